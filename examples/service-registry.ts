/**
 * A service registry: each instance registers itself under `/services/<name>` with an ephemeral
 * node (`GroupMember`) that vanishes when its session ends, even if the process dies without a
 * word. A client lists the live instances and watches the list change.
 *
 *   npm run example:service-registry -- [--endpoints 127.0.0.1:4180] [--instances 3]
 */
import { parseArgs } from 'node:util';
import { Client, GroupMember } from '../src/index.js';

const { values } = parseArgs({ options: { endpoints: { type: 'string', default: '127.0.0.1:4180' }, instances: { type: 'string', default: '3' } } });
const endpoints = values.endpoints.split(',');
const group = '/services/api';

const observer = await Client.connect({ endpoints });
const instances: { client: Client; member: GroupMember }[] = [];
for (let i = 1; i <= Number(values.instances); i++) {
  // Each instance is its own process in real life: its own client, its own session.
  const client = await Client.connect({ endpoints });
  const member = new GroupMember(client, group, `host-${i}`, `10.0.0.${i}:8080`);
  await member.join();
  instances.push({ client, member });
}

const list = async (): Promise<string[]> => (await observer.children(group)).names;
console.log(`registered: ${(await list()).join(', ')}`);

// One instance goes away: closing its session removes its node at once; a crash would remove it
// when the session times out.
const watch = (await observer.children(group, { watch: true })).watch;
const leaving = instances.pop();
await leaving?.client.close();
const event = await watch;
console.log(`${event?.type} ${event?.path}: now ${(await list()).join(', ')}`);

for (const { client } of instances) await client.close();
await observer.close();
