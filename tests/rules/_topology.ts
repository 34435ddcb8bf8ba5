// The namespaces of the rules' end-to-end test and HTTP benchmark: a hub, one or two agents
// each on its own link to it, and an internet client on a third link, every namespace routing
// the rest through the hub's.

import type { Netns, NetnsGroup } from "../_support/netns.ts";

/** Agent A's link: the hub's address on it is where agents log in and clients connect. */
export const HUB_A = "10.79.1.1", AGENT_A = "10.79.1.2";
/** Agent B's link. */
export const HUB_B = "10.79.2.1", AGENT_B = "10.79.2.2";
/** The internet client's link; the client holds two addresses (for firewall tests). */
export const HUB_C = "10.79.3.1", CLIENT = "10.79.3.2", CLIENT_OTHER = "10.79.3.3";

export interface RulesTopology {
  hub: Netns;
  /** Agent A's namespace, then agent B's when asked for. */
  agents: Netns[];
  client: Netns;
}

/** Creates the namespaces (named `${prefix}-hub`, `-ag1`, `-ag2`, `-cl`) in `namespaces`. */
export async function createRulesTopology(
  namespaces: NetnsGroup,
  prefix: string,
  agentCount: 1 | 2,
): Promise<RulesTopology> {
  const hub = await namespaces.create(`${prefix}-hub`);
  const links = [[AGENT_A, HUB_A], [AGENT_B, HUB_B]].slice(0, agentCount);
  const agents: Netns[] = [];
  for (const [index, [agent, hubSide]] of links.entries()) {
    agents.push(
      await namespaces.createLinked(`${prefix}-ag${index + 1}`, hub, {
        addresses: [`${agent}/24`],
        peerAddresses: [`${hubSide}/24`],
        defaultRoute: true,
      }),
    );
  }
  const client = await namespaces.createLinked(`${prefix}-cl`, hub, {
    addresses: [`${CLIENT}/24`, `${CLIENT_OTHER}/24`],
    peerAddresses: [`${HUB_C}/24`],
    defaultRoute: true,
  });
  return { hub, agents, client };
}
