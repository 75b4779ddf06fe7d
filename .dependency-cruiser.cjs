/**
 * Import rules (issue 15): no cycles, and each layer imports only layers below it:
 *
 *   cli → processes → ingress | control | exit → link | legitimacy → protocol → shared
 *
 * A higher layer may import any lower one; ingress, control and exit never import
 * each other, nor do link and legitimacy; shared imports nothing of ours.
 * Type-only imports count (tsPreCompilationDeps). Tests and benchmarks may reach
 * into any layer, but no cycle is allowed anywhere. `npm run deps` checks (in `npm test`),
 * with no list of known violations: there are none.
 */
const LAYERS = ['cli', 'processes', 'ingress', 'control', 'exit', 'link', 'legitimacy', 'protocol', 'shared'];

/** A rule forbidding `layer` to import anything under src/ outside `allowed` (its own directory is always allowed). */
function layer(name, allowed) {
  const ok = [name, ...allowed].join('|');
  return {
    name: `layer-${name}`,
    comment: `src/${name}/ may import only ${[name, ...allowed].map((l) => `src/${l}/`).join(', ')}`,
    severity: 'error',
    // Unit tests beside the sources are tests: exempt like test/ and bench/ (not from cycles).
    from: { path: `^src/${name}/`, pathNot: '\\.test\\.ts$' },
    to: { path: '^src/', pathNot: `^src/(${ok})/` },
  };
}

const below = { links: ['protocol', 'shared'], roles: ['link', 'legitimacy', 'protocol', 'shared'] };

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle (type-only imports included): split the module the cycle passes through.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    layer('shared', []),
    layer('protocol', ['shared']),
    layer('link', below.links),
    layer('legitimacy', below.links),
    layer('ingress', below.roles),
    layer('control', below.roles),
    layer('exit', below.roles),
    layer('processes', ['ingress', 'control', 'exit', ...below.roles]),
    layer('cli', ['processes', 'ingress', 'control', 'exit', ...below.roles]),
    {
      name: 'src-in-a-layer',
      comment: `Every source module lives in a layer's directory: ${LAYERS.map((l) => `src/${l}/`).join(', ')}.`,
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/(${LAYERS.join('|')})/` },
      to: {},
    },
    {
      name: 'no-dev-deps-in-src',
      comment: 'Shipped code must not need a devDependency (unit tests beside the sources may).',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-orphans',
      comment: 'A source module nothing imports and that imports nothing is dead (entry points and tests excepted).',
      severity: 'error',
      // The dashboard's ui/app.ts is the browser build's entry point (served as /dashboard/ui/app.js, imported by nothing).
      from: { orphan: true, path: '^src/', pathNot: ['\\.test\\.ts$', '\\.d\\.ts$', '^src/cli/main\\.ts$', '^src/control/dashboard/'] },
      to: {},
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to nothing.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    moduleSystems: ['es6', 'cjs'],
  },
};
