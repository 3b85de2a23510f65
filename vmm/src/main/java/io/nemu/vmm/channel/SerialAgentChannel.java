package io.nemu.vmm.channel;

import io.nemu.vmm.MachineProfile;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Agent channel over a virtio-serial port named {@value #PORT_NAME}. QEMU listens on a unix socket
 * and relays it to the port; the guest agent opens the port's character device. QEMU takes one host
 * connection at a time.
 */
public final class SerialAgentChannel implements AgentChannel {
    public static final String PORT_NAME = "agent.channel.0";
    static final String CHARDEV_ID = "agentch";
    static final String BUS_ID = "vser0";

    private final Path socket;

    public SerialAgentChannel(Path socket) {
        this.socket = socket;
    }

    public Path socket() {
        return socket;
    }

    @Override
    public String kind() {
        return "serial";
    }

    @Override
    public List<String> qemuArgs(MachineProfile profile) {
        return List.of(
                "-device", profile.virtioSerialDevice() + ",id=" + BUS_ID + ",max_ports=2"
                        + profile.virtioDeviceOptions(),
                "-chardev", "socket,id=" + CHARDEV_ID + ",path=" + socket + ",server=on,wait=off",
                "-device", "virtserialport,bus=" + BUS_ID + ".0,chardev=" + CHARDEV_ID + ",name=" + PORT_NAME);
    }

    @Override
    public SocketChannel dial(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        do {
            if (Files.exists(socket)) {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    ch.connect(UnixDomainSocketAddress.of(socket));
                    return ch;
                } catch (IOException e) {
                    ch.close();
                    last = e;
                }
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while dialing the agent on " + socket, e);
            }
        } while (System.nanoTime() < deadline);
        throw new IOException("agent serial channel " + socket + " not reachable within " + timeout.toMillis()
                + " ms" + (last == null ? " (socket missing)" : ": " + last.getMessage()), last);
    }

    @Override
    public void close() {
        try {
            Files.deleteIfExists(socket);
        } catch (IOException ignored) {
            // QEMU usually removes it itself
        }
    }
}
