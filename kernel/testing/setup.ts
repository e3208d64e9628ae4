/** Vitest setup for every test file: close the kernels a test opened, whatever happened in it. */
import { afterEach } from 'vitest';
import { closeKernels } from './harness.js';

afterEach(closeKernels);
