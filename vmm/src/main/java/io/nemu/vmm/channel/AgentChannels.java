package io.nemu.vmm.channel;

import io.nemu.vmm.AgentTransport;
import io.nemu.vmm.RunPaths;
import io.nemu.vmm.VmConfig;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Opens the agent channel a VM's config asks for, choosing the vsock flavour the host supports. */
public final class AgentChannels {
    private static final Logger log = LoggerFactory.getLogger(AgentChannels.class);

    private AgentChannels() {
    }

    /** The channel of {@code config}, or null for none; a vsock backend starts listening here, before QEMU. */
    public static AgentChannel open(VmConfig config, RunPaths paths) throws IOException {
        AgentTransport t = config.agentTransport();
        if (t == AgentTransport.VSOCK) {
            t = VhostVsockChannel.available() ? AgentTransport.VHOST_VSOCK : AgentTransport.HYBRID_VSOCK;
            log.info("vsock agent channel: {}", t == AgentTransport.VHOST_VSOCK ? "kernel vhost-vsock"
                    : "in-process vhost-user-vsock (no " + VhostVsockChannel.DEVICE + ")");
        }
        return switch (t) {
            case NONE -> null;
            case SERIAL -> new SerialAgentChannel(paths.agentSocket());
            case HYBRID_VSOCK -> HybridVsockChannel.start(config.runDir().getFileName().toString(),
                    paths.vhostUserVsockSocket(), paths.vsockSocket(), config.agentPort());
            case VHOST_VSOCK -> VhostVsockChannel.reserve(paths.runDir().resolve("vsock-relay.sock"),
                    config.agentPort());
            case VSOCK -> throw new IllegalStateException("resolved above");
        };
    }
}
