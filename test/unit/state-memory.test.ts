import { MemoryStateStore } from '../../src/state/memory.ts';
import { stateStoreContract } from '../contract/state-store.ts';

stateStoreContract('memory', async () => new MemoryStateStore());
