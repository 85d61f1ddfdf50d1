/**
 * The life cycle of a connector as a table of legal transitions (after kafkajs'
 * producer/eosManager/transactionStateMachine.js): Connector.setState checks every change against
 * it, so a state the status endpoint shows always follows from the one before.
 *
 *   stopped -> starting -> standby -> starting            (waiting for the ownership lock)
 *                       -> snapshotting -> streaming      (the session's phases)
 *   any running state   -> retrying (a retriable failure, backoff) | failed (an operator must act)
 *   retrying | failed   -> the next session's first state
 *   any state           -> stopped
 */
import type { ConnectorState } from '../observe/events';

const SESSION_STATES: ConnectorState[] = ['starting', 'standby', 'snapshotting', 'streaming'];

export const TRANSITIONS: Readonly<Record<ConnectorState, readonly ConnectorState[]>> = {
  stopped: ['starting'],
  starting: ['standby', 'snapshotting', 'streaming', 'retrying', 'failed', 'stopped'],
  standby: ['starting', 'retrying', 'failed', 'stopped'],
  snapshotting: ['streaming', 'starting', 'retrying', 'failed', 'stopped'],
  streaming: ['snapshotting', 'starting', 'retrying', 'failed', 'stopped'],
  retrying: [...SESSION_STATES, 'failed', 'stopped'],
  failed: [...SESSION_STATES, 'retrying', 'stopped'],
};

/** Whether a connector may go from one state to another (staying in a state is always allowed: a new error). */
export function mayTransition(from: ConnectorState, to: ConnectorState): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}
