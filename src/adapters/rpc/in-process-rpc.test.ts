import { rpcContract } from '../../ports/rpc.contract.js';
import { InProcessRpcTransport } from './in-process-rpc.js';

rpcContract('in process', async () => {
  const transport = new InProcessRpcTransport();
  return { client: transport, server: transport, close: () => transport.close() };
});
