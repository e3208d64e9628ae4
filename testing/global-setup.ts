/** Vitest global setup: build every component the tests use, once, before any test file runs. */
import { buildAll } from './harness.js';

export default async function setup(): Promise<void> {
  await buildAll();
}
