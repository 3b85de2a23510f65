package io.nemu.shim.sandbox;

import io.grpc.Status;
import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.Spec;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.oci.Bundle;

/**
 * What a pod can ask of runc but not of a VM, refused when the sandbox or container is created instead of
 * silently differing (the top README's limitations section lists the rest and what happens instead):
 * a CRI pod on the host's network ({@code hostNetwork: true}: containerd's sandbox spec has no network namespace
 * at all) and a mount whose propagation goes from the container back to the host ({@code Bidirectional}: option
 * {@code rshared} or {@code shared}).
 */
public final class VmLimits {
    private VmLimits() {
    }

    /**
     * A CRI sandbox whose spec has no network namespace entry is a host-network pod. Plain {@code ctr run} (no
     * CRI annotation) goes on without a NIC, as before: an operator asked for that VM by hand.
     */
    public static void checkSandbox(String sandboxId, Bundle bundle) {
        if (!"sandbox".equals(bundle.annotations().get(Bundle.CONTAINER_TYPE))) {
            return;
        }
        for (var n : bundle.spec().path("linux").path("namespaces")) {
            if (n.path("type").asText().equals("network")) {
                return;
            }
        }
        throw new TaskException(Status.Code.INVALID_ARGUMENT, "sandbox " + sandboxId + ": a host-network pod"
                + " (hostNetwork: true) cannot run in a VM: the guest has its own network stack and cannot join the"
                + " host's network namespace; run this pod with runc (another RuntimeClass)");
    }

    /** A mount with bidirectional propagation: mounts made in the guest can never reach the host. */
    public static void checkMounts(String cid, Spec.Builder spec) {
        for (Mount m : spec.getMountsList()) {
            if (m.getOptionsList().contains("rshared") || m.getOptionsList().contains("shared")) {
                throw new TaskException(Status.Code.INVALID_ARGUMENT, "container " + cid + ": mount "
                        + m.getDestination() + " asks for shared (Bidirectional) propagation, which a VM cannot give:"
                        + " mounts made in the guest do not propagate back to the host; use HostToContainer (rslave)"
                        + " or None");
            }
        }
    }
}
