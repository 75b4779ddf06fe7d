/**
 * `node --test dist/test/` runs every .js file under a test/ directory, so the
 * harness commands (npm run chaos, npm run soak) would start a 30-minute soak
 * or build network namespaces inside the unit-test run. Picked up that way
 * (the runner sets NODE_TEST_CONTEXT in its children), a command does nothing.
 */
export function pickedUpByTestRunner(): boolean {
  return process.env.NODE_TEST_CONTEXT !== undefined;
}
