/**
 * Vitest setup for every test file: close the kernels a test opened, whatever happened in it,
 * and remove the file's temp dirs once it is done.
 */
import { afterAll, afterEach } from 'vitest';
import { closeKernels, removeTempHomes } from './harness.js';

afterEach(closeKernels);
afterAll(async () => {
  await closeKernels();
  removeTempHomes();
});
