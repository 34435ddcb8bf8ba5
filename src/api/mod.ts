// The door of src/api: the local API's routes over a narrow backend, its router and its
// listeners. Other folders import the API from here.

export type {
  ConnectParams,
  OlmBackend,
  OlmStatus,
  PacketriotRules,
  PacketriotTunnel,
} from "./backend.ts";
export {
  ApiError,
  type ErrorFormat,
  errorFormatOf,
  errorResponse,
  STATUS_OF_KIND,
} from "./api_errors.ts";
export {
  type ApiRequest,
  apiRequest,
  type ApiResponse,
  familyOfPath,
  PACKETRIOT_PREFIX,
  type ResponseDoc,
  type Route,
  type RouteDoc,
  type RouteFamily,
} from "./exchange.ts";
export { type ConnectDefaults, OLM_CONNECT_DEFAULTS, olmRoutes } from "./olm.ts";
export { type PacketriotOptions, packetriotRoutes } from "./packetriot.ts";
export { Router } from "./router.ts";
export { METRICS_PATH, metricsRoute } from "./metrics_route.ts";
export { jsonSchemaOf, OPENAPI_PATH, openApiDocument, openApiRoute } from "./openapi.ts";
export { ApiServer, type ApiServerOptions, MAX_BODY_BYTES } from "./server.ts";
