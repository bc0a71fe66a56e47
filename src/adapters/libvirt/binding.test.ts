import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pinningDomains, type NativeConnection, type NativeDomain } from './binding.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/**
 * A native connection that, like the binding's workers, keeps no reference to the handle it was
 * given: only a WeakRef. Each domain call reports whether the handle survived a full GC mid-call.
 */
function forgetfulConnection(): NativeConnection {
  const afterGc = async (ref: WeakRef<NativeDomain>): Promise<string> => {
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
    return ref.deref() === undefined ? 'freed mid-call' : 'alive';
  };
  const survived = (domain: NativeDomain): Promise<string> => afterGc(new WeakRef(domain));
  const unused = () => Promise.reject(new Error('not used by this test'));
  return {
    connectOpen: unused,
    connectClose: unused,
    connectListAllDomains: unused,
    domainDefineXML: unused,
    domainLookupByName: unused,
    domainLookupByUUIDString: unused,
    domainCreate: unused,
    domainShutdown: unused,
    domainDestroy: unused,
    domainUndefine: unused,
    domainSuspend: unused,
    domainResume: unused,
    domainSave: unused,
    domainRestore: unused,
    domainGetInfo: unused,
    domainGetName: survived,
    domainGetUUIDString: unused,
    domainGetXMLDesc: survived,
    nodeGetInfo: unused,
  };
}

describe('pinningDomains', () => {
  it('keeps a domain handle reachable until the native call that uses it settles', async () => {
    const bare = forgetfulConnection();
    // The control: without pinning, a handle nobody else holds is collected mid-call.
    assert.equal(await bare.domainGetXMLDesc({ handle: 'bare' }), 'freed mid-call');
    const pinned = pinningDomains(bare);
    assert.equal(await pinned.domainGetXMLDesc({ handle: 'pinned' }), 'alive');
    // Two calls on one handle: the first to settle must not unpin it for the other.
    const shared = { handle: 'shared' };
    const both = [pinned.domainGetName(shared), pinned.domainGetXMLDesc(shared)];
    assert.deepEqual(await Promise.all(both), ['alive', 'alive']);
  });
});
