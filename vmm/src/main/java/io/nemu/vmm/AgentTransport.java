package io.nemu.vmm;

/** Which host-guest channel the VM gets for the agent. */
public enum AgentTransport {
    /** No agent channel (e.g. a boot test). */
    NONE,
    /** virtio-serial port {@code agent.channel.0} on a unix socket: the bring-up channel. */
    SERIAL
}
