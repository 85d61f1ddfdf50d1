/** Root hooks: the integration suite fails, never skips, when a real service is missing. */
import { assertKafka, assertPostgres } from '../helpers/services';

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(30_000);
    await assertPostgres();
    await assertKafka();
  },
};
