package io.nemu.vmm.channel;

import io.nemu.vmm.MachineProfile;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.List;

/**
 * How the host reaches the guest agent: the devices it adds to QEMU and a way to open a byte stream
 * to the agent. The bring-up transport is {@link SerialAgentChannel}; vsock implements the same.
 */
public interface AgentChannel extends AutoCloseable {

    /** Short name for logs ("serial", "vsock"). */
    String kind();

    /** QEMU arguments (chardevs, devices) this channel needs on the given machine. */
    List<String> qemuArgs(MachineProfile profile);

    /**
     * Opens a connected, blocking byte stream to the agent's side of the channel, retrying until
     * {@code timeout} while the host endpoint is not there yet.
     */
    SocketChannel dial(Duration timeout) throws IOException;

    /** Removes host-side leftovers (socket files). */
    @Override
    void close();
}
