/**
 * Membership of a group (Curator's GroupMember): an ephemeral node `<group>/<memberId>` that lives
 * exactly as long as the client's session. When the session is lost the member is gone and 'lost'
 * is emitted; it never silently rejoins under a new session (that would hide the gap from others).
 */
import { ConclaveError, ErrorCode, isConclaveError } from '../../common/errors.js';
import type { Client } from '../client.js';
import { joinPath } from '../paths.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { Data } from '../types.js';
import { ensurePath } from './ensure-path.js';

export interface GroupMemberEvents {
  /** The session ended on the server: this member's node is gone. */
  lost: [ConclaveError];
}

export class GroupMember extends TypedEmitter<GroupMemberEvents> {
  /** The member's node. */
  readonly path: string;
  readonly #client: Client;
  readonly #group: string;
  readonly #data: Data;

  constructor(client: Client, group: string, memberId: string, data: Data = new Uint8Array()) {
    super();
    this.#client = client;
    this.#group = group;
    this.#data = data;
    this.path = joinPath(group, memberId);
    client.once('lost', (err) => this.emit('lost', err));
  }

  /** Create the member's node (and the group's missing parents, as persistent nodes). */
  async join(): Promise<void> {
    await ensurePath(this.#client, this.#group);
    try {
      await this.#client.create(this.path, this.#data, { ephemeral: true });
    } catch (err: unknown) {
      if (!isConclaveError(err, ErrorCode.NODE_EXISTS)) throw err;
      // Ours already (joined twice) is fine; someone else's is a real conflict.
      const { stat } = await this.#client.exists(this.path);
      if (stat?.ephemeralOwner !== this.#client.sessionId) throw new ConclaveError(ErrorCode.NODE_EXISTS, `${this.path} is held by another session`, { path: this.path });
    }
  }

  /** Remove the member's node (closing the client does it too). */
  async leave(): Promise<void> {
    try {
      await this.#client.delete(this.path);
    } catch (err: unknown) {
      if (!isConclaveError(err, ErrorCode.NO_NODE)) throw err;
    }
  }

  /** The ids of the group's members now, sorted. */
  async members(): Promise<string[]> {
    const names: string[] = [];
    for await (const name of this.#client.allChildren(this.#group)) names.push(name);
    return names;
  }
}
