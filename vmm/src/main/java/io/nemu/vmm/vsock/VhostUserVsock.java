package io.nemu.vmm.vsock;

import io.nemu.vmm.vhostuser.VhostUserBackend;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A vhost-user-vsock device backend inside this process, one per VM: QEMU connects to
 * {@code vhostSocket} ({@code -chardev socket,path=...} + {@code vhost-user-vsock-device|pci}), host
 * clients use {@code hybridSocket} (see {@link VsockMuxer} for the CONNECT convention).
 *
 * <p>When QEMU goes away the device closes its host connections, unmaps guest memory and ends its
 * threads; {@link #terminated()} then completes (exceptionally if the frontend broke the protocol).
 */
public final class VhostUserVsock implements AutoCloseable {
    /** Guest CID the hybrid device reports; each VM has its own device, so they need not differ. */
    public static final long DEFAULT_GUEST_CID = 3;

    private final VsockDevice device;
    private final VhostUserBackend backend;
    private final CompletableFuture<Void> terminated = new CompletableFuture<>();

    private VhostUserVsock(VsockDevice device, VhostUserBackend backend) {
        this.device = device;
        this.backend = backend;
        // Done once the protocol thread has ended and the worker has released everything.
        backend.terminated().whenComplete((v, e) -> device.stopped().whenComplete((v2, e2) -> {
            if (e != null) {
                terminated.completeExceptionally(e instanceof java.util.concurrent.CompletionException
                        && e.getCause() != null ? e.getCause() : e);
            } else {
                terminated.complete(null);
            }
        }));
    }

    /** Starts listening on both sockets; QEMU may start once this returns. */
    public static VhostUserVsock start(String name, Path vhostSocket, Path hybridSocket, long guestCid)
            throws IOException {
        if (guestCid < 3 || guestCid > 0xffffffffL - 1) {
            throw new IllegalArgumentException("guest CID must be 3..2^32-2, got " + guestCid);
        }
        VsockDevice device = new VsockDevice(name, guestCid, hybridSocket);
        VhostUserBackend backend;
        try {
            backend = VhostUserBackend.start(name, vhostSocket, device);
        } catch (IOException | RuntimeException e) {
            device.shutdown(e);
            throw e;
        }
        VhostUserVsock v = new VhostUserVsock(device, backend);
        device.onFatal(backend::abort);
        return v;
    }

    public Path vhostSocket() {
        return backend.path();
    }

    /** Completes when the device has ended and released its memory and threads. */
    public CompletableFuture<Void> terminated() {
        return terminated;
    }

    /** Open connections (for tests and diagnostics). */
    public int connectionCount() throws IOException {
        return device.connectionCount();
    }

    /** Ends the device now (QEMU, if connected, sees the vhost-user socket close). */
    @Override
    public void close() {
        backend.close();
        device.shutdown(null);
        try {
            terminated.get(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | TimeoutException ignored) {
            // reported through terminated()
        }
    }
}
