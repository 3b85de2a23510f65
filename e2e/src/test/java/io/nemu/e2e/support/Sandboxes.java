package io.nemu.e2e.support;

import io.nemu.shim.sandbox.PidFile;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** A nemu sandbox seen from the host by its id: its folders (the shim's {@link SandboxPaths}), pid files, processes. */
public final class Sandboxes {
    private Sandboxes() {
    }

    /** A pid the shim daemon recorded in the sandbox's state folder ({@code daemon}: itself, {@code qemu}). */
    public static long pid(String id, String what) throws IOException {
        Path file = SandboxPaths.of(id).pidFile(what);
        return PidFile.read(file).orElseThrow(() -> new IOException("no pid record in " + file)).pid();
    }

    /** Pids of QEMU or virtiofsd processes whose command line names this sandbox (its folders hold their sockets). */
    public static List<Long> vmProcesses(String id) {
        return ProcessHandle.allProcesses().filter(h -> h.info().commandLine().map(
                cl -> (cl.contains("qemu-system") || cl.contains("virtiofsd")) && cl.contains("/" + id + "/")).orElse(false))
                .map(ProcessHandle::pid).toList();
    }

    /**
     * The shim daemon serving a running sandbox (from its pid file; it serves the namespace's other pods too) and
     * the sandbox's own processes (QEMU, virtiofsd and virtiofsd's sandboxed child), by name.
     */
    public static Map<String, Long> hostProcesses(String id) throws IOException {
        Map<String, Long> found = new LinkedHashMap<>();
        Path pidFile = SandboxPaths.of(id).pidFile("daemon");
        if (!Files.exists(pidFile)) {
            throw new IllegalStateException("no shim pid file " + pidFile + " for running sandbox " + id);
        }
        long shim = pid(id, "daemon");
        ProcessHandle.of(shim).orElseThrow(() -> new IllegalStateException("shim daemon " + shim + " is gone"));
        found.put("shim daemon", shim);
        for (String part : List.of("qemu", "virtiofsd")) {
            if (!Files.exists(SandboxPaths.of(id).pidFile(part))) {
                continue;
            }
            ProcessHandle.of(pid(id, part)).ifPresent(h -> Stream.concat(Stream.of(h), h.descendants())
                    .forEach(d -> {
                        String exe = d.info().command().orElse("?");
                        String name = exe.substring(exe.lastIndexOf('/') + 1);
                        found.put(found.containsKey(name) ? name + " " + d.pid() : name, d.pid());
                    }));
        }
        return found;
    }
}
