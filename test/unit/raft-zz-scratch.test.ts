import { it } from 'vitest';
import { Cluster } from './raft-harness.js';
import { describeReady } from '../../src/raft/index.js';
it('scratch', () => {
  const c = new Cluster({ size: 3 });
  for (const { id, rd } of c.readies) console.log(`--- ${id}\n${describeReady(rd)}`);
  c.readies.length = 0;
  c.elect(1);
  for (const { id, rd } of c.readies) console.log(`--- ${id}\n${describeReady(rd)}`);
  console.log(c.ids.map((id) => `${id} ${c.role(id)} t${c.term(id)} commit ${c.node(id).raft.log.committed} applied ${c.node(id).raft.log.applied}`));
});
