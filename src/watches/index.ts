/** The per-replica watch core: events, the resumable history, the registry and the hub that delivers. */
export { WATCH_EVENT_OVERHEAD_BYTES, WATCH_EVENT_TYPES, watchEventBytes, type WatchEvent, type WatchEventType } from './watch-event.js';
export { WatchHistory, type WatchHistoryOptions } from './watch-history.js';
export {
  ONE_SHOT_KINDS,
  WatchRegistry,
  isWithin,
  persistentWatchAccepts,
  type OneShotKind,
  type PersistentWatch,
  type PersistentWatchOptions,
  type WatchMatch,
  type WatchRegistryLimits,
} from './watch-registry.js';
export { WatchHub, defaultWatchHubOptions, type WatchFrame, type WatchHubOptions, type WatchSink, type WatchSpec } from './watch-hub.js';
