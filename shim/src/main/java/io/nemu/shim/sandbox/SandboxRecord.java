package io.nemu.shim.sandbox;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.nemu.vmm.PrivateFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * What {@code nemu ps} and {@code nemu exec} need to know of a running sandbox, written into its state folder
 * when its VM starts and removed when the VM is stopped ({@value #FILE}, root's alone). The pids are in the pid
 * files beside it ({@link PidFile}), which tell whether the daemon and QEMU still run.
 *
 * @param pod          the pod's name from containerd's CRI annotations, empty outside CRI
 * @param namespace    the pod's Kubernetes namespace, empty outside CRI
 * @param startedAt    when the VM was started, milliseconds since the epoch
 * @param debugConsole whether the guest serves the debug console ({@code [agent.kata] debug_console_enabled})
 */
public record SandboxRecord(String id, String pod, String namespace, String profile, int vcpus, int memoryMib,
                            long startedAt, String config, boolean debugConsole) {
    public static final String FILE = "sandbox.json";
    static final String POD_NAME = "io.kubernetes.cri.sandbox-name";
    static final String POD_NAMESPACE = "io.kubernetes.cri.sandbox-namespace";
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /** The record of a sandbox whose VM starts now. */
    static SandboxRecord starting(String id, Map<String, String> annotations, String profile, PodSizing size,
                                  Path config, boolean debugConsole) {
        return new SandboxRecord(id, annotations.getOrDefault(POD_NAME, ""), annotations.getOrDefault(POD_NAMESPACE, ""),
                profile, size.vcpus(), size.memoryMib(), System.currentTimeMillis(),
                config == null ? "" : config.toString(), debugConsole);
    }

    void write(Path stateDir) throws IOException {
        Path f = PrivateFiles.file(stateDir.resolve(FILE));
        Files.write(f, JSON.writeValueAsBytes(this));
    }

    /** The record in a sandbox's state folder; empty when there is none (a sandbox still starting, or gone). */
    public static Optional<SandboxRecord> read(Path stateDir) throws IOException {
        Path f = stateDir.resolve(FILE);
        if (!Files.exists(f)) {
            return Optional.empty();
        }
        try {
            return Optional.of(JSON.readValue(f.toFile(), SandboxRecord.class));
        } catch (IOException e) {
            throw new IOException(f + " is not a sandbox record: " + e.getMessage(), e);
        }
    }

    static void remove(Path stateDir) throws IOException {
        Files.deleteIfExists(stateDir.resolve(FILE));
    }
}
