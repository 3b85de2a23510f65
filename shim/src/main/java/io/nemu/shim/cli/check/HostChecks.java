package io.nemu.shim.cli.check;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** Every requirement, in the order {@code nemu check} prints them. */
public final class HostChecks {
    private static final List<Function<CheckContext, List<CheckResult>>> ALL = List.of(
            ConfigurationCheck::run, AcceleratorCheck::run, VsockCheck::run, QemuCheck::run, VirtiofsdCheck::run,
            GuestImageCheck::run, ContainerdCheck::run, KernelCheck::run, MemoryCheck::run);

    private HostChecks() {
    }

    public static List<CheckResult> run(CheckContext c) {
        List<CheckResult> out = new ArrayList<>();
        ALL.forEach(check -> out.addAll(check.apply(c)));
        return out;
    }
}
