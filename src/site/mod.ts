// An agent acting as a site: its clients as device peers, the kernel rules that make it
// enforce access and masquerade to its LAN, and its probe responder.

export { type SiteDevice, type SitePeers, SiteRole } from "./site_role.ts";
export {
  siteRuleset,
  siteRulesetRemoval,
  type SiteRulesInput,
  siteTableName,
} from "./site_rules.ts";
export { type CommandRunner, runCommand } from "./site_firewall.ts";
export { clientAllowedIps, hasIpv6, TUNNEL_IPV6_PREFIX, tunnelIpv6Of } from "./tunnel_ipv6.ts";
