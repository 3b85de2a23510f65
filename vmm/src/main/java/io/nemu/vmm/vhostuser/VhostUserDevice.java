package io.nemu.vmm.vhostuser;

/**
 * What a device implements to sit behind {@link VhostUserBackend}. The backend calls these from its
 * protocol thread; the device moves the work onto its own thread as it needs.
 */
public interface VhostUserDevice {

    /** Virtio device feature bits offered (VIRTIO_F_VERSION_1 and device bits; not the vhost-user bit). */
    long features();

    /** Number of virtqueues the backend serves. */
    int queueCount();

    /** The device config space (GET_CONFIG reads from it). */
    byte[] config();

    /** Guest memory changed; the device drops views of the old table and releases it. */
    void setMemory(GuestMemory memory);

    /** A queue is ready: addresses set, kick fd given, enabled. The device owns {@code kickFd} and {@code callFd}. */
    void startQueue(int index, Virtqueue queue, int kickFd, int callFd);

    /** The call fd of a started queue changed (-1: none); the device owns the new fd. */
    void setCallFd(int index, int callFd);

    /** Stops a started queue and returns its next available index. */
    int stopQueue(int index);

    /**
     * The frontend is gone ({@code cause} null) or broke the protocol: end everything, release the
     * memory, end the threads. Called once.
     */
    void shutdown(Throwable cause);
}
