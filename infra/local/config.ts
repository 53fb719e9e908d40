/**
 * Local mode's configuration is infra/config.ts, shared with the operator tools (infra/ops/).
 * @deprecated Import from infra/config.ts; the simulator and reliability tests (test/sim/, test/reliability/)
 * still import it from here.
 */
export { loadLocalConfig } from '../config.ts';
