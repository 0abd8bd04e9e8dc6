// CommonJS consumers: require() of this ESM package works where Node can require ES modules
// (Node 22.12+, 20.19+: process.features.require_module), through the exports' `default`
// condition; elsewhere Node's documented ERR_REQUIRE_ESM is the expected answer.
'use strict';
const assert = require('node:assert/strict');
if (process.features.require_module) {
  const kit = require('connection-manager-kit');
  const machines = require('connection-manager-kit/machines');
  assert.equal(typeof kit.ConnectionManager, 'function');
  assert.equal(typeof machines.connectionMachine, 'object');
  console.log(`consumer (require, Node ${process.version}): ok`);
} else {
  assert.throws(() => require('connection-manager-kit'), { code: 'ERR_REQUIRE_ESM' });
  console.log(`consumer (require, Node ${process.version}): ERR_REQUIRE_ESM as documented (no require(esm) here); use import`);
}
