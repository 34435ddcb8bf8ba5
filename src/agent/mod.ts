// The door of src/agent: the agent object, its composition root and its process life (the
// daemon and the hand-off to an updated binary). Other folders import the agent from here.

export {
  Agent,
  type AgentOptions,
  AgentStateError,
  type AgentStatus,
  type SessionFactory,
} from "./agent.ts";
export {
  type AgentConfig,
  agentRouter,
  composeAgent,
  type ComposedAgent,
  newAgent,
  type NewAgentOptions,
} from "./compose.ts";
export { type DaemonConfig, runDaemon } from "./daemon.ts";
export {
  INSTALLED_VERSION_ENV,
  installedVersion,
  pendingUpdate,
  runtimeVersion,
  runUpdate,
  UPDATE_PATH,
} from "./update.ts";
