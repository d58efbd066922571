import { MemoryPushStore } from '../../src/push/memory-store.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';
import { pushStoreContract } from '../contract/push-store.ts';

pushStoreContract('memory', async () => {
  const state = new MemoryStateStore();
  return { state, push: new MemoryPushStore(state.push) };
});
