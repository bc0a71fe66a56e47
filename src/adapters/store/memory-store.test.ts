import { storeContract } from '../../ports/store.contract.js';
import { MemoryStore } from './memory-store.js';

storeContract('MemoryStore', async () => new MemoryStore());
