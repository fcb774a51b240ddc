import {
  createConfiguration,
  IsomorphicFetchHttpLibrary,
  ResponseContext,
  SelfDecodingBody,
  ServerConfiguration,
  wrapHttpLibrary,
  type Configuration,
  type HttpLibrary,
  type KubeConfig,
} from "@kubernetes/client-node";
import { KubeRequestError } from "./cluster-port.js";
import { RequestDeadline, timeoutError } from "./request-timeout.js";

/**
 * A client-node API client (CoreV1Api, AppsV1Api, …) whose every request must be answered, headers
 * and body, within `timeoutMs`; one that is not is aborted and rejected with a KubeTimeoutError.
 * Built as KubeConfig.makeApiClient builds it, with the HTTP library wrapped: one place covers every
 * call, and no per-call option (the patches' Content-Type middleware) can drop the deadline.
 */
export function makeTimedApiClient<T>(config: KubeConfig, apiClientType: new (configuration: Configuration) => T, timeoutMs: number): T {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new KubeRequestError("the kubeconfig has no current cluster", undefined);
  return new apiClientType(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: config },
      httpApi: timedHttpLibrary(timeoutMs),
    }),
  );
}

function timedHttpLibrary(timeoutMs: number): HttpLibrary {
  const fetchLibrary = new IsomorphicFetchHttpLibrary();
  return wrapHttpLibrary({
    async send(request) {
      const deadline = new RequestDeadline(timeoutMs);
      request.setSignal(deadline.signal);
      try {
        const response = await fetchLibrary.send(request).toPromise();
        // The body is read here, under the same deadline: headers followed by a stalled body are
        // caught too (the generated code would read it later, outside this function).
        const body = await response.body.binary();
        return new ResponseContext(response.httpStatusCode, response.headers, new SelfDecodingBody(Promise.resolve(body)));
      } catch (error) {
        if (deadline.expired) throw timeoutError(request.getHttpMethod(), request.getUrl(), timeoutMs);
        throw error;
      } finally {
        deadline.dispose();
      }
    },
  });
}
