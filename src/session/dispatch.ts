// The hub's messages to a registered agent (PROTOCOL.md section 3), each checked with its schema
// and acted on: olm/wg/connect registers, peer add/remove/update/relay/unrelay and sync change
// the device's peers (src/session/reconciliation.ts), terminate ends the session. A malformed
// message is logged and ignored; it never throws.

import { type Frame, MSG } from "../protocol/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  connectSchema,
  errorSchema,
  peerRemoveSchema,
  peerUpdateSchema,
  relaySchema,
  type Site,
  siteSchema,
  syncSchema,
  unrelaySchema,
} from "./hub_messages.ts";
import { relayEndpointOf } from "./peers.ts";
import type { DeviceReconciler } from "./reconciliation.ts";

/** What a hub message may act on: the session hands these to {@linkcode dispatchHubMessage}. */
export interface DispatchContext {
  readonly device: DeviceReconciler;
  readonly log: Logger;
  /** Brings the device up for `tunnelIP` with `sites`; true when that registered the agent. */
  register(tunnelIP: string, sites: Site[]): Promise<boolean>;
  /** Ends the session for good with the hub's reason. */
  terminate(error: { code: string; message: string }): Promise<void>;
}

/**
 * Acts on one server message.
 *
 * @param chainId the registration chain of the current socket: a connect of another is stale
 * @returns true when the message completed a registration
 */
export async function dispatchHubMessage(
  frame: Frame,
  chainId: string,
  context: DispatchContext,
): Promise<boolean> {
  const { device, log } = context;
  const reject = (type: string) => log.warn("ignored a malformed message from the hub", { type });
  switch (frame.type) {
    case MSG.connect: {
      const parsed = connectSchema.safeParse(frame.data);
      if (!parsed.success) return reject(frame.type), false;
      if (parsed.data.chainId && parsed.data.chainId !== chainId) return false;
      device.utilitySubnet = parsed.data.utilitySubnet ?? "";
      return await context.register(parsed.data.tunnelIP, parsed.data.sites);
    }
    case MSG.peerAdd: {
      const parsed = siteSchema.safeParse(frame.data);
      if (!parsed.success) return reject(frame.type), false;
      device.peers.upsert(parsed.data);
      await device.installPeer(parsed.data);
      await device.peersChanged();
      return false;
    }
    case MSG.peerRemove: {
      const parsed = peerRemoveSchema.safeParse(frame.data);
      if (!parsed.success) return reject(frame.type), false;
      const site = device.peers.remove(parsed.data.siteId);
      if (site) await device.uninstallPeer(site);
      await device.peersChanged();
      return false;
    }
    case MSG.peerUpdate: {
      const parsed = peerUpdateSchema.safeParse(frame.data);
      if (!parsed.success) return reject(frame.type), false;
      const before = device.peers.get(parsed.data.siteId);
      const merged = device.peers.update(parsed.data as Partial<Site> & { siteId: number });
      if (!before || !merged) return false;
      if (before.publicKey !== merged.publicKey) await device.uninstallPeer(before);
      await device.installPeer(merged);
      await device.peersChanged();
      return false;
    }
    case MSG.peerRelay: {
      const parsed = relaySchema.safeParse(frame.data);
      if (!parsed.success) return reject(frame.type), false;
      const endpoint = relayEndpointOf(parsed.data.relayEndpoint, parsed.data.relayPort);
      if (device.peers.setRoute(parsed.data.siteId, endpoint, true)) {
        await device.installPeer(device.peers.get(parsed.data.siteId)!);
      }
      return false;
    }
    case MSG.peerUnrelay: {
      const parsed = unrelaySchema.safeParse(frame.data);
      if (!parsed.success) return reject(frame.type), false;
      if (device.peers.setRoute(parsed.data.siteId, parsed.data.endpoint, false)) {
        await device.installPeer(device.peers.get(parsed.data.siteId)!);
      }
      return false;
    }
    case MSG.sync: {
      const parsed = syncSchema.safeParse(frame.data);
      if (!parsed.success) return reject(frame.type), false;
      await device.syncPeers(parsed.data.sites);
      await device.peersChanged();
      return false;
    }
    case MSG.error: {
      const parsed = errorSchema.safeParse(frame.data);
      log.warn("the hub reported an error", parsed.success ? parsed.data : {});
      return false;
    }
    case MSG.serverError:
      log.debug("the hub did not understand a message", { data: frame.data });
      return false;
    case MSG.terminate: {
      const parsed = errorSchema.safeParse(frame.data ?? {});
      await context.terminate(
        parsed.success
          ? { code: parsed.data.code, message: parsed.data.message || "terminated by the hub" }
          : { code: "terminated", message: "terminated by the hub" },
      );
      return false;
    }
    default:
      // Messages of the agent's extensions (e.g. burrow/site/clients for a site).
      if (await device.offerToExtensions(frame)) return false;
      log.debug("ignored a message of unknown type", { type: frame.type });
      return false;
  }
}
