import { MemoryExposureStore } from '../../src/scenarios/exposure.ts';
import { EXPOSURE_OPTIONS, exposureStoreContract } from '../contract/exposure-store.ts';

exposureStoreContract('memory', async () => new MemoryExposureStore(EXPOSURE_OPTIONS));
