package io.nemu.shim.cli.check;

/**
 * One line of {@code nemu check}.
 *
 * @param name   the requirement ("qemu", "kvm", ...)
 * @param status its outcome
 * @param detail what was found
 * @param action what to do about it; null when nothing is to be done
 */
public record CheckResult(String name, Status status, String detail, String action) {

    public static CheckResult pass(String name, String detail) {
        return new CheckResult(name, Status.PASS, detail, null);
    }

    public static CheckResult warn(String name, String detail, String action) {
        return new CheckResult(name, Status.WARN, detail, action);
    }

    public static CheckResult fail(String name, String detail, String action) {
        return new CheckResult(name, Status.FAIL, detail, action);
    }
}
