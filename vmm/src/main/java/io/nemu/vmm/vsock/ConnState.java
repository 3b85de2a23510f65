package io.nemu.vmm.vsock;

/** Lifecycle of one vsock stream connection as the device sees it. */
sealed interface ConnState {

    /** Host-initiated: REQUEST queued or sent to the guest, waiting for its RESPONSE until {@code deadlineNanos}. */
    record Connecting(long deadlineNanos) implements ConnState {
    }

    /** Both directions open. */
    record Established() implements ConnState {
    }

    /** The host end hit EOF: the guest was told SHUTDOWN(SEND); the guest may still send to the host. */
    record LocalShutdown() implements ConnState {
    }

    /** The guest shut down the directions in {@code flags} (SHUTDOWN_RCV, SHUTDOWN_SEND). */
    record PeerShutdown(int flags) implements ConnState {
    }

    /** Done; {@code reason} is for logs. The RST (if any) may still be queued. */
    record Closed(String reason) implements ConnState {
    }
}
