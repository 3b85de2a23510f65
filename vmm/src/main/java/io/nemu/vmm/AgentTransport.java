package io.nemu.vmm;

/** Which host-guest channel the VM gets for the agent. */
public enum AgentTransport {
    /** No agent channel (e.g. a boot test). */
    NONE,
    /** virtio-serial port {@code agent.channel.0} on a unix socket: the bring-up channel. */
    SERIAL,
    /** vsock (to {@link VmConfig#agentPort()}): kernel vhost-vsock when the host has /dev/vhost-vsock, else {@link #HYBRID_VSOCK}. */
    VSOCK,
    /** vsock through our in-process vhost-user-vsock backend and its hybrid unix socket. */
    HYBRID_VSOCK,
    /** vsock through the host kernel's vhost-vsock (/dev/vhost-vsock) and AF_VSOCK. */
    VHOST_VSOCK;

    /** Whether the agent is reached on a vsock port (which {@link VmConfig#agentPort()} then names). */
    public boolean vsock() {
        return this == VSOCK || this == HYBRID_VSOCK || this == VHOST_VSOCK;
    }
}
