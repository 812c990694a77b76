/**
 * Stable, readable text for core types, so tests can state expectations as text and a failing
 * simulator seed can print what happened.
 */
import type { Ready } from './raw-node.js';
import { type Entry, EntryType, type HardState, type Message, messageTypeName } from './types.js';

export function describeEntry(e: Entry): string {
  const kind = e.type === EntryType.ConfChange ? 'conf' : e.data.length === 0 ? 'empty' : `${e.data.length}B`;
  return `${e.term}/${e.index} ${kind}`;
}

export function describeHardState(hs: HardState): string {
  return `term=${hs.term} vote=${hs.vote} commit=${hs.commit}`;
}

export function describeMessage(m: Message): string {
  const parts = [`${m.from}->${m.to} ${messageTypeName[m.type]} term=${m.term}`];
  // term/index of a log position when the message names one; a bare index otherwise (acks, reads).
  if (m.logTerm !== undefined) parts.push(`log=${m.logTerm}/${m.index ?? 0}`);
  else if (m.index !== undefined) parts.push(`index=${m.index}`);
  if (m.commit !== undefined) parts.push(`commit=${m.commit}`);
  if (m.reject) parts.push(m.rejectHint !== undefined ? `reject hint=${m.rejectHint}` : 'reject');
  if (m.context) parts.push(`ctx=${m.context}`);
  if (m.force) parts.push('force');
  if (m.offset !== undefined) parts.push(`offset=${m.offset}`);
  if (m.transferee) parts.push(`transferee=${m.transferee}`);
  if (m.snapshot) parts.push(`snap=${m.snapshot.meta.term}/${m.snapshot.meta.index} [${m.snapshot.offset},+${m.snapshot.data.length}) of ${m.snapshot.totalBytes}`);
  if (m.entries && m.entries.length > 0) parts.push(`[${m.entries.map(describeEntry).join(', ')}]`);
  return parts.join(' ');
}

export function describeReady(rd: Ready): string {
  const lines: string[] = [];
  if (rd.softState) lines.push(`soft: lead=${rd.softState.lead} ${rd.softState.role}`);
  if (rd.hardState) lines.push(`hard: ${describeHardState(rd.hardState)}`);
  if (rd.entries.length > 0) lines.push(`persist: ${rd.entries.map(describeEntry).join(', ')}`);
  if (rd.snapshot) lines.push(`snapshot: ${rd.snapshot.meta.term}/${rd.snapshot.meta.index} voters=${rd.snapshot.meta.conf.voters.join(',')}`);
  if (rd.committedEntries.length > 0) lines.push(`apply: ${rd.committedEntries.map(describeEntry).join(', ')}`);
  for (const m of rd.messages) lines.push(`send: ${describeMessage(m)}`);
  for (const m of rd.messagesAfterPersist) lines.push(`send after persist: ${describeMessage(m)}`);
  for (const rs of rd.readStates) lines.push(`read: ctx=${rs.context} index=${rs.index}`);
  if (rd.mustSync) lines.push('sync');
  return lines.join('\n');
}
