import { afterAll, beforeAll } from 'vitest';
import { openTestStore, type TestStore } from './databases.js';
import { createTestApp, type TestApp } from './test-app.js';

// Two instances of the service on one Postgres, as behind a load balancer, for the enclosing
// describe block: opened before its tests, closed after them.
export function twoInstancesOnPostgres(): { readonly store: TestStore; readonly a: TestApp; readonly b: TestApp } {
  let store: TestStore | undefined;
  let a: TestApp | undefined;
  let b: TestApp | undefined;
  beforeAll(async () => {
    store = await openTestStore('postgres');
    a = await createTestApp({ store });
    b = await createTestApp({ store });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await store?.cleanup();
  });
  return {
    get store() {
      return store!;
    },
    get a() {
      return a!;
    },
    get b() {
      return b!;
    },
  };
}
