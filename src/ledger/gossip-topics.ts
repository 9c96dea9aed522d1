/**
 * The ledger's gossip topics. The precheck (as a message arrives) decodes and checks what needs
 * no state: sizes, schemas, and for a block its header alone (network, height, minimum
 * difficulty, PoW); validation (in the node's fair queue) checks signatures and applies. Blocks
 * and transactions may come from any author: blocks are relayed by anyone, and any node
 * re-announces pending transactions (after a reorg, or when they wait long).
 *
 * Relaying is vouching: a node forwards (Accept) only a block whose full validation, state
 * included, it has done, i.e. one that joined its canonical chain (`connected` or `reorg`). A
 * side block is stored with its state unchecked, so it is not forwarded (Ignore): were it
 * relayed, a neighbour that had applied it and found it invalid would charge the honest relay
 * `InvalidBlock` for an attacker's block (and disconnect, then ban it). Peers that need a side
 * branch get it by sync once a block of it makes the branch heaviest somewhere and is relayed.
 */
import { GossipValidationError, type TopicHandler } from '../transport.ts'
import { decodeBlock, type DecodedBlock } from './block.ts'
import { checkHeaderSelf } from './block-checks.ts'
import { MAX_BLOCK_BYTES, MAX_TX_BYTES, blockTopic, transactionTopic } from './constants.ts'
import type { NetworkParams } from './genesis.ts'
import { decodeTransaction, type TxInfo } from './tx.ts'
import type { AddBlockResult, TxView } from './types.ts'

export interface LedgerTopics {
  blocks: TopicHandler<AddBlockResult, DecodedBlock>
  transactions: TopicHandler<TxView, TxInfo>
}

/** What validation hands a prechecked message to. */
export interface TopicSink {
  addBlock: (decoded: DecodedBlock, from: string) => Promise<AddBlockResult>
  addTransaction: (info: TxInfo) => Promise<TxView>
}

export function ledgerTopicHandlers (params: NetworkParams, sink: TopicSink): LedgerTopics {
  return {
    blocks: {
      topic: blockTopic(params.networkId),
      maxBytes: MAX_BLOCK_BYTES,
      precheck: (data) => {
        // [REJECT] size, decode, header schema; network, height, minimum difficulty, PoW
        const decoded = decodeBlock(data)
        checkHeaderSelf(decoded.header, decoded.hash, params)
        return decoded
      },
      validate: async (_data, from, decoded) => {
        const result = await sink.addBlock(decoded, from)
        // [IGNORE] stored as a side block: state unchecked, so not relayed (see above)
        if (result.status === 'side') throw new GossipValidationError('ignore', `side block ${result.hash} stored, not relayed: its state is not checked`, 'ERR_SIDE_BLOCK_NOT_RELAYED')
        return result
      },
      deliver: () => {}
    },
    transactions: {
      topic: transactionTopic(params.networkId),
      maxBytes: MAX_TX_BYTES,
      // [REJECT] size, decode, schema
      precheck: (data) => decodeTransaction(data),
      validate: async (_data, _from, info) => await sink.addTransaction(info),
      deliver: () => {}
    }
  }
}
