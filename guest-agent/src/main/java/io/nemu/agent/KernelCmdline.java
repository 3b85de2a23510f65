package io.nemu.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The agent's switches on the guest kernel's command line, under Kata's names ({@code agent.log=debug},
 * {@code agent.debug_console_vport=1026}): the host sets them through the kernel parameters it boots the VM with.
 */
public record KernelCmdline(String line) {
    public static KernelCmdline current() {
        try {
            return new KernelCmdline(Files.readString(Path.of("/proc/cmdline")));
        } catch (IOException | RuntimeException e) {
            return new KernelCmdline("");
        }
    }

    /** The value of the last {@code key=value} word (the kernel's rule: later words win). */
    public Optional<String> value(String key) {
        String found = null;
        for (String word : line.strip().split("\\s+")) {
            if (word.startsWith(key + "=")) {
                found = word.substring(key.length() + 1);
            }
        }
        return Optional.ofNullable(found);
    }
}
