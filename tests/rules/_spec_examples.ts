// The rule objects of spec/packetriot-client-api.txt's JSON examples, as written there, for the
// schema and API tests that check those examples pass unchanged.

export const SPEC_SITE = {
  domain: "api-test-1.spokes.domain.com",
  secure: true,
  destination: "127.0.0.1",
  port: 8080,
  webRoot: "/tmp",
  useLetsEnc: true,
  firewall: [{ sequence: 1, action: "allow", network: "71.1.2.3/32" }],
  redirect: true,
  rewriteHost: "api-test-100.spokes.domain.com",
  upstreamURL: "",
};

export const SPEC_PORTS = [
  { port: 22872, destination: "127.0.0.1", dstPort: 2200 },
  {
    port: 22470,
    destination: "127.0.0.1",
    dstPort: 2200,
    firewall: [{ sequence: 1, action: "allow", network: "71.1.2.3/32" }],
  },
];

export const SPEC_PORTMAP = {
  port: 15001,
  dstPort: 22132,
  destination: "",
  transport: "tcp",
  label: "port-mapping-1",
};
