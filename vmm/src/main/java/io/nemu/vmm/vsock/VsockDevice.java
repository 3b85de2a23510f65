package io.nemu.vmm.vsock;

import com.sun.jna.Memory;
import io.nemu.vmm.vhostuser.DescriptorChain;
import io.nemu.vmm.vhostuser.GuestMemory;
import io.nemu.vmm.vhostuser.Kicker;
import io.nemu.vmm.vhostuser.Libc;
import io.nemu.vmm.vhostuser.VhostUserDevice;
import io.nemu.vmm.vhostuser.Virtqueue;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The virtio-vsock device behind vhost-user: its rx and tx queues (QEMU keeps the event queue) and one
 * worker thread that owns everything touching guest memory: the queues, the {@link VsockMuxer} and its
 * host sockets. Kick threads and the vhost-user thread hand work to it.
 */
final class VsockDevice implements VhostUserDevice {
    private static final Logger log = LoggerFactory.getLogger(VsockDevice.class);

    static final long HOST_CID = 2;
    static final int RX = 0;
    static final int TX = 1;

    private final String name;
    private final long guestCid;
    private final Selector selector;
    private final VsockMuxer muxer;
    private final Thread worker;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean rxKicked = new AtomicBoolean();
    private final AtomicBoolean txKicked = new AtomicBoolean();
    private final CompletableFuture<Void> stopped = new CompletableFuture<>();
    private final Memory callScratch = new Memory(8);
    private final Virtqueue[] queues = new Virtqueue[2];
    private final Kicker[] kickers = new Kicker[2];
    private final int[] callFds = {-1, -1};
    private volatile boolean stopping;
    private volatile Runnable onFatal = () -> { };
    private GuestMemory memory;

    VsockDevice(String name, long guestCid, Path hybridSocket) throws IOException {
        this.name = name;
        this.guestCid = guestCid;
        this.selector = Selector.open();
        try {
            this.muxer = new VsockMuxer(name, guestCid, hybridSocket, selector);
        } catch (IOException e) {
            selector.close();
            throw e;
        }
        this.worker = new Thread(this::loop, "vsock-" + name);
        this.worker.setDaemon(true);
        this.worker.start();
    }

    /** Called if the guest breaks the virtqueue rules: the owner ends the vhost-user connection. */
    void onFatal(Runnable r) {
        this.onFatal = r;
    }

    CompletableFuture<Void> stopped() {
        return stopped;
    }

    int connectionCount() throws IOException {
        return call(muxer::connectionCount);
    }

    @Override
    public long features() {
        return 0; // VIRTIO_F_VERSION_1 comes from the backend; no vsock feature bits (no SEQPACKET)
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public byte[] config() {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, guestCid).array();
    }

    @Override
    public void setMemory(GuestMemory m) {
        callUnchecked(() -> {
            // Memory hotplug: running queues move to the new table (no views outlive a worker step).
            for (int i = 0; i < 2; i++) {
                if (queues[i] != null) {
                    queues[i] = queues[i].remap(m);
                }
            }
            if (memory != null) {
                memory.close();
            }
            memory = m;
            return null;
        });
    }

    @Override
    public void startQueue(int index, Virtqueue queue, int kickFd, int callFd) {
        callUnchecked(() -> {
            queues[index] = queue;
            callFds[index] = callFd;
            return null;
        });
        AtomicBoolean flag = index == RX ? rxKicked : txKicked;
        kickers[index] = new Kicker("vsock-" + name + "-kick" + index, kickFd, () -> {
            flag.set(true);
            selector.wakeup();
        });
        // Buffers may already be waiting.
        flag.set(true);
        selector.wakeup();
    }

    @Override
    public void setCallFd(int index, int callFd) {
        callUnchecked(() -> {
            Libc.closeQuietly(callFds[index]);
            callFds[index] = callFd;
            return null;
        });
    }

    @Override
    public int stopQueue(int index) {
        Kicker k = kickers[index];
        kickers[index] = null;
        if (k != null) {
            k.close();
        }
        return callUnchecked(() -> {
            Virtqueue q = queues[index];
            queues[index] = null;
            Libc.closeQuietly(callFds[index]);
            callFds[index] = -1;
            return q == null ? 0 : q.lastAvailIndex();
        });
    }

    @Override
    public void shutdown(Throwable cause) {
        stopping = true;
        for (int i = 0; i < 2; i++) {
            Kicker k = kickers[i];
            kickers[i] = null;
            if (k != null) {
                k.close();
            }
        }
        selector.wakeup();
        if (Thread.currentThread() != worker) {
            try {
                worker.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    // ---- worker ----

    private void loop() {
        try {
            while (!stopping) {
                long next = muxer.nextDeadline();
                long waitMs = next == Long.MAX_VALUE ? 0 : Math.max(1, (next - System.nanoTime()) / 1_000_000);
                if (tasks.isEmpty() && !rxKicked.get() && !txKicked.get()) {
                    selector.select(waitMs);
                } else {
                    selector.selectNow();
                }
                Runnable t;
                while ((t = tasks.poll()) != null) {
                    t.run();
                }
                for (SelectionKey k : selector.selectedKeys()) {
                    muxer.onReady(k);
                }
                selector.selectedKeys().clear();
                muxer.onTimer(System.nanoTime());
                if (txKicked.getAndSet(false)) {
                    processTx();
                }
                rxKicked.set(false);
                processRx();
            }
        } catch (Virtqueue.VirtqueueException | GuestMemory.GuestMemoryException e) {
            log.error("{}: the guest driver broke the virtqueue rules, closing the device: {}", name, e.getMessage());
            onFatal.run();
        } catch (IOException | RuntimeException e) {
            if (!stopping) {
                log.error("{}: vsock worker failed, closing the device", name, e);
                onFatal.run();
            }
        } finally {
            teardown();
        }
    }

    private void processTx() {
        Virtqueue q = queues[TX];
        if (q == null) {
            return;
        }
        boolean used = false;
        DescriptorChain c;
        while ((c = q.pop()) != null) {
            muxer.onGuestPacket(c);
            q.addUsed(c.head(), 0);
            used = true;
        }
        if (used) {
            signal(TX, q);
        }
    }

    private void processRx() {
        Virtqueue q = queues[RX];
        if (q == null) {
            return;
        }
        boolean used = false;
        while (muxer.hasRxWork()) {
            DescriptorChain c = q.pop();
            if (c == null) {
                break; // wait for the guest to post buffers (rx kick)
            }
            int n = muxer.fillRx(c);
            if (n < 0) {
                q.unpop();
                continue;
            }
            q.addUsed(c.head(), n);
            used = true;
        }
        if (used) {
            signal(RX, q);
        }
    }

    private void signal(int index, Virtqueue q) {
        int fd = callFds[index];
        if (fd >= 0 && q.needsInterrupt()) {
            try {
                Libc.eventfdWrite(fd, callScratch, 1);
            } catch (IOException e) {
                log.warn("{}: interrupt for queue {}: {}", name, index, e.getMessage());
            }
        }
    }

    private void teardown() {
        stopping = true;
        Runnable t;
        while ((t = tasks.poll()) != null) {
            t.run(); // callers waiting get their answer (or IllegalStateException)
        }
        muxer.closeAll();
        for (int i = 0; i < 2; i++) {
            queues[i] = null;
            Libc.closeQuietly(callFds[i]);
            callFds[i] = -1;
        }
        if (memory != null) {
            memory.close();
            memory = null;
        }
        try {
            selector.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        log.debug("{}: vsock device stopped", name);
        stopped.complete(null);
    }

    /** Runs {@code c} on the worker and waits for it. */
    private <T> T call(Callable<T> c) throws IOException {
        if (Thread.currentThread() == worker) {
            try {
                return c.call();
            } catch (Exception e) {
                throw new IOException(e);
            }
        }
        CompletableFuture<T> f = new CompletableFuture<>();
        tasks.add(() -> {
            try {
                f.complete(c.call());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        });
        selector.wakeup();
        try {
            while (true) {
                try {
                    return f.get(100, TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    if (stopped.isDone() && !f.isDone()) {
                        throw new IOException("vsock device " + name + " is stopped");
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            throw new IOException(cause);
        }
    }

    private <T> T callUnchecked(Callable<T> c) {
        try {
            return call(c);
        } catch (IOException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }
}
