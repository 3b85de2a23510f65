package io.nemu.shim.sandbox;

import com.google.protobuf.Any;
import io.nemu.proto.containerd.types.Mount;
import io.nemu.proto.kata.VolumeStatsResponse;
import io.nemu.shim.agent.Stdio;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.oci.Bundle;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * What the Task service needs from a sandbox: the VM with its agent in production, a fake in unit
 * tests. Calls throw {@link TaskException} (or any runtime exception, reported as INTERNAL).
 */
public interface Sandbox extends AutoCloseable {

    /** The pid reported for every task of this sandbox (QEMU's). */
    long pid();

    /** Creates a container in the sandbox (its rootfs made visible to the guest). */
    void createContainer(String containerId, Bundle bundle, List<Mount> rootfs, Stdio stdio);

    /**
     * Starts a created container's init process or an exec. The future completes with the exit status
     * once the process has ended and all of its output has been copied out.
     */
    CompletableFuture<Integer> start(String containerId, String execId);

    /** Adds an exec process (not started) from an OCI Process in JSON. */
    void exec(String containerId, String execId, byte[] processJson, Stdio stdio);

    void signal(String containerId, String execId, int signal, boolean all);

    void resizePty(String containerId, String execId, int width, int height);

    void closeStdin(String containerId, String execId);

    void pause(String containerId);

    void resume(String containerId);

    /** cgroup metrics as containerd expects them (an Any of io.containerd.cgroups.v1.Metrics). */
    Any stats(String containerId);

    void update(String containerId, Any resources);

    /** Process ids inside the guest. */
    List<Integer> pids(String containerId);

    /** Removes a container (its processes have exited) and its rootfs mounts. */
    void removeContainer(String containerId);

    /** The mount of {@code hostPath} by one of its containers, if any (also after the sandbox died). */
    Optional<GuestVolumes.Volume> volume(String hostPath);

    /** The guest agent's GetVolumeStats of a volume's guest path. */
    VolumeStatsResponse volumeStats(String guestPath);

    /** Forgets an exec that has exited. */
    void removeExec(String containerId, String execId);

    /** Destroys the sandbox: the guest, the VM, virtiofsd, mounts and state. Idempotent. */
    @Override
    void close();

    /** What the sandbox reports on its own, between calls. */
    interface Listener {
        /** The guest's OOM killer hit a process of this container. */
        void oom(String containerId);

        /**
         * The sandbox died on its own ({@link SandboxWatch}: QEMU or virtiofsd exited, the guest panicked,
         * the agent stopped answering) and has been torn down; no process of it runs any more.
         */
        default void died(String cause) {
        }
    }

    /** Boots a sandbox for its first task; {@code options} are containerd's runtime options (may be null). */
    interface Factory {
        Sandbox create(String sandboxId, Bundle bundle, Any options, Listener listener);
    }
}
