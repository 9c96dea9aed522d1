/**
 * Which blobs a lease's worker may ask the requester for, and how often: only blobs of tasks
 * outstanding on the lease (module, stdin input, input manifest, files of the input tree), each
 * at most once per task assigned that needs it. A worker that lost a blob may ask again; one that
 * asks for more cannot make the requester send more than its tasks carry.
 */
import { cidText } from '../../proofs/encoding.ts'
import type { TaskWork } from './types.ts'

export class BlobAllowance {
  /** Serves of module, input and manifest blobs still owed: one per task assigned that needs it. */
  private readonly owed = new Map<string, number>()
  /** Tasks assigned per input tree (by manifest CID), and serves of each tree file so far. */
  private readonly treeTasks = new Map<string, number>()
  private readonly fileServes = new Map<string, number>()

  /** Records the blobs an assigned task entitles the worker to ask for. */
  allow (task: TaskWork): void {
    bump(this.owed, cidText(task.spec.module))
    if (task.stdin == null) bump(this.owed, cidText(task.spec.input))
    if (task.inputTree != null) {
      bump(this.owed, task.inputTree.cid)
      bump(this.treeTasks, task.inputTree.cid)
    }
  }

  /**
   * Whether the blob `key` may be served now, given the tasks still outstanding; counts the serve
   * when it may.
   */
  take (key: string, outstanding: Iterable<TaskWork>): boolean {
    const tasks = [...outstanding]
    const owed = this.owed.get(key) ?? 0
    if (owed > 0 && tasks.some((t) => names(t, key))) {
      if (owed === 1) this.owed.delete(key)
      else this.owed.set(key, owed - 1)
      return true
    }
    for (const task of tasks) {
      const tree = task.inputTree
      if (tree == null || !tree.blobs.has(key) || tree.cid === key) continue
      const served = this.fileServes.get(key) ?? 0
      if (served >= (this.treeTasks.get(tree.cid) ?? 0)) return false
      this.fileServes.set(key, served + 1)
      return true
    }
    return false
  }
}

/** Whether a task names the blob as its module, stdin input or input manifest. */
function names (task: TaskWork, key: string): boolean {
  return cidText(task.spec.module) === key || (task.stdin == null && cidText(task.spec.input) === key) || task.inputTree?.cid === key
}

function bump (map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}
