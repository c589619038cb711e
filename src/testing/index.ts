/**
 * `plugin-factory/testing`: the kit plugin authors test their plugins with. It walks the
 * lifecycle paths the engine's own model-based tests walk, with the plugin's real hooks.
 */
export { lifecyclePaths, standIn } from './walk.ts';
export type { LifecyclePath, LifecyclePathsOptions, PathReport, PathStep, StandInService } from './walk.ts';
export type { ModelEventType, PathCover } from './paths.ts';
export { MODEL_EVENTS, MODEL_RETRIES, lifecycleModel } from './lifecycle-model.ts';
export type { ModelEvent } from './lifecycle-model.ts';
