// A request to a path the service has, with a method it does not take there, is answered 405
// with an Allow header (RFC 9110 §15.5.6), not 404: the client got the method wrong, not the
// address. Fastify's router does not tell "no such path" from "no such method" in its not-found
// handler, so a shadow router (find-my-way, the router Fastify itself uses) holds every
// route's path and answers which methods a path takes. It is only consulted for requests
// already headed for a 404.
import type { FastifyInstance } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';

export interface MethodIndex {
  /** The methods routed at this path, sorted; empty when no route has the path. */
  allowed(method: string, url: string): string[];
}

/** Call before any route is registered: it learns routes through the onRoute hook. */
export function indexRouteMethods(app: FastifyInstance, maxParamLength: number): MethodIndex {
  const router = FindMyWay({ ignoreTrailingSlash: false, maxParamLength });
  const methods = new Set<string>();
  const noop = () => undefined;
  app.addHook('onRoute', (route) => {
    // A plugin's root route ('/' under a prefix) answers at the prefix with and without the
    // trailing slash, but only one of the two is announced here for GET.
    const urls = route.prefix && (route.routePath === '/' || route.routePath === '') ? [route.prefix, `${route.prefix}/`] : [route.url];
    for (const m of [route.method].flat()) {
      const method = m.toUpperCase();
      for (const url of urls) {
        // A path may be declared twice for one method only with constraints, which we do not use.
        if (router.hasRoute(method as HTTPMethod, url)) continue;
        router.on(method as HTTPMethod, url, noop);
        methods.add(method);
      }
    }
  });
  return {
    allowed(method, url) {
      const path = url.split('?')[0] ?? url;
      // A route that takes this method is there and found nothing itself (a static file
      // handler calling callNotFound): that is a 404, not a wrong method.
      if (methods.has(method) && router.find(method as HTTPMethod, path)) return [];
      const found: string[] = [];
      for (const m of methods) if (m !== method && router.find(m as HTTPMethod, path)) found.push(m);
      return found.sort();
    },
  };
}
