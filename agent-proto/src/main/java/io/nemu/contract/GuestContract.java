package io.nemu.contract;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the host and the guest agree on outside the agent API: the shared folder's virtio-fs tag and its
 * mount path in the guest, where container roots and host mounts appear below it, the pod's /dev/shm,
 * the agent's vsock port, and the console marker of a guest that gave up. These are Kata's values, so that either side can be swapped for Kata's.
 * The image's {@code /init} reads them from a file the image builder writes from {@link #shellVariables()},
 * so the shell script cannot drift from the Java sides.
 */
public final class GuestContract {
    /** The virtio-fs tag of the sandbox's shared folder. */
    public static final String SHARED_FS_TAG = "kataShared";
    /** Where the guest mounts the shared folder. */
    public static final String SHARED_DIR = "/run/kata-containers/shared/containers";
    /** The guest's sandbox folder (Kata's); CopyFile writes only below it. */
    public static final String SANDBOX_DIR = "/run/kata-containers";
    /** Where the agent mounts the pod's /dev/shm tmpfs (an ephemeral storage of CreateSandbox). */
    public static final String POD_SHM = SANDBOX_DIR + "/sandbox/shm";
    /** The vsock port the agent listens on (Kata's default). */
    public static final int AGENT_VSOCK_PORT = 1024;
    /**
     * How the guest's {@code /init} starts the one console line that says why it gave up (a broken root, an agent
     * that cannot run or exited) before it powers the VM off: the host fails the sandbox with that line at once.
     */
    public static final String GUEST_FATAL_MARKER = "nemu-init: FATAL:";

    private GuestContract() {
    }

    /** A container's root as the guest sees it: {@code <shared>/<cid>/rootfs}. */
    public static String containerRootfs(String cid) {
        return SHARED_DIR + "/" + cid + "/rootfs";
    }

    /** A host path shared for a container, as the guest sees it: {@code <shared>/<cid>/mounts/<name>}. */
    public static String containerMount(String cid, String name) {
        return SHARED_DIR + "/" + cid + "/mounts/" + name;
    }

    /** The values {@code /init} needs, as shell variable assignments (names are the keys). */
    public static Map<String, String> shellVariables() {
        Map<String, String> v = new LinkedHashMap<>();
        v.put("NEMU_SHARED_FS_TAG", SHARED_FS_TAG);
        v.put("NEMU_SHARED_DIR", SHARED_DIR);
        v.put("NEMU_AGENT_VSOCK_PORT", Integer.toString(AGENT_VSOCK_PORT));
        v.put("NEMU_FATAL_MARKER", GUEST_FATAL_MARKER);
        return v;
    }
}
