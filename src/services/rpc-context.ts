/**
 * The request context as an RPC message carries it (`_context_<key>`), in oslo.context's key
 * names, so an oslo peer reads it as its own: who calls, in which project, with which roles, and
 * the request id that ties the work to the API request. The token never crosses.
 */
import type { RpcContext } from '../ports/rpc.js';
import { isAdmin, type RequestContext } from './identity.js';

export function rpcContextOf(ctx: RequestContext, requestId: string): RpcContext {
  return {
    request_id: requestId,
    global_request_id: null,
    user_id: ctx.userId,
    user_name: ctx.userName,
    project_id: ctx.projectId,
    project_name: ctx.projectName,
    roles: [...ctx.roles],
    is_admin: isAdmin(ctx),
  };
}
