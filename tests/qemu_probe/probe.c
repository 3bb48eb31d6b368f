/*
 * CPUID probe guest: a freestanding 32-bit Multiboot v1 kernel that prints every CPUID
 * leaf/subleaf it sees, in the `cpuid -r` line layout, on COM1, then powers the VM off.
 *
 * Before dumping it puts the CPU in the state a Linux guest would (CR4.OSXSAVE with XCR0 =
 * every component CPUID.(0xD,0) offers, CR4.PKE when PKU is present), so OSXSAVE, OSPKE
 * and the XSAVE area sizes read as they would inside such a guest. The Multiboot command
 * line `bare` skips that and leaves the reset state (OSXSAVE=0, XCR0=1).
 *
 * Serial output, framed so a harness can detect truncation:
 *
 *   CPUID-PROBE-START                   (before the state is set: a hang there is a stall)
 *   CPUID-PROBE-BEGIN mode=os
 *   CPU:
 *      0x00000000 0x00: eax=0x... ebx=0x... ecx=0x... edx=0x...
 *      ...
 *      xcr0=0x0000000000000007          (the value written; only when XSAVE is present)
 *   CPUID-PROBE-END lines=N cr4=0x...
 *
 * N counts the lines between the two markers. A CPU exception prints
 * `CPUID-PROBE-FAULT vector=0x..` instead and powers off.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define MULTIBOOT_BOOTED 0x2BADB002u
#define MULTIBOOT_CMDLINE (1u << 2)

#define COM1 0x3F8
#define UART_FIFO 16

#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define CR4_OSXSAVE (1u << 18)
#define CR4_PKE (1u << 22)

#define BASIC_CAP 0xFFu
#define RANGE_SPAN 0xFFu
#define HYPERVISOR_BASE 0x40000000u
#define HYPERVISOR_SECOND 0x40000100u
#define EXTENDED_BASE 0x80000000u
#define SUBLEAF_CAP 63u /* bound for the "until the terminating entry" walks */
#define COUNTED_CAP 31u /* bound for subleaf counts read from EAX */

struct regs {
    u32 eax, ebx, ecx, edx;
};

/* ---- port I/O and privileged instructions ---------------------------------------- */

static inline void outb(u16 port, u8 value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline void outw(u16 port, u16 value)
{
    __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port));
}

static inline u8 inb(u16 port)
{
    u8 value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static void cpuid(u32 leaf, u32 subleaf, struct regs *r)
{
    __asm__ volatile("cpuid"
                     : "=a"(r->eax), "=b"(r->ebx), "=c"(r->ecx), "=d"(r->edx)
                     : "a"(leaf), "c"(subleaf));
}

static u32 read_cr4(void)
{
    u32 value;
    __asm__ volatile("mov %%cr4, %0" : "=r"(value));
    return value;
}

static void write_cr4(u32 value)
{
    __asm__ volatile("mov %0, %%cr4" : : "r"(value) : "memory");
}

static void xsetbv0(u64 value)
{
    __asm__ volatile("xsetbv" : : "c"(0), "a"((u32)value), "d"((u32)(value >> 32)));
}

static u64 rdtsc(void)
{
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

/* ---- serial output: polled 16550, written in FIFO-sized bursts -------------------- */

static char out_buf[UART_FIFO];
static u32 out_len;
static u32 lines_printed;

static void serial_init(void)
{
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB on */
    outb(COM1 + 0, 0x01); /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
    outb(COM1 + 2, 0xC7); /* FIFO on and cleared */
    outb(COM1 + 4, 0x03); /* DTR, RTS */
}

static void serial_flush(void)
{
    while (!(inb(COM1 + 5) & 0x20)) /* transmit FIFO empty */
        ;
    for (u32 i = 0; i < out_len; i++)
        outb(COM1, (u8)out_buf[i]);
    out_len = 0;
}

static void put_char(char c)
{
    if (out_len == UART_FIFO)
        serial_flush();
    out_buf[out_len++] = c;
}

static void put_str(const char *s)
{
    while (*s)
        put_char(*s++);
}

static void put_hex(u64 value, int digits)
{
    static const char hex[] = "0123456789abcdef";
    put_str("0x");
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4)
        put_char(hex[(value >> shift) & 0xF]);
}

static void put_dec(u32 value)
{
    char text[10];
    int n = 0;
    do {
        text[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        put_char(text[--n]);
}

/* A line between the markers: counted for the end marker. */
static void end_dump_line(void)
{
    put_char('\n');
    lines_printed++;
}

/* ---- power-off --------------------------------------------------------------------- */

static int has_tsc(void)
{
    struct regs r;
    cpuid(0, 0, &r);
    if (r.eax < 1)
        return 0;
    cpuid(1, 0, &r);
    return (r.edx >> 4) & 1;
}

/* ACPI power-off is asynchronous: give QEMU about a second to act on it. */
static void settle(void)
{
    if (has_tsc()) {
        u64 start = rdtsc();
        while (rdtsc() - start < 2000000000ull)
            ;
    } else {
        for (u32 i = 0; i < 2000000u; i++)
            (void)inb(0x80);
    }
}

static void triple_fault(void)
{
    static const struct __attribute__((packed)) {
        u16 limit;
        u32 base;
    } null_idt = {0, 0};
    __asm__ volatile("lidt %0; int3" : : "m"(null_idt));
}

static void __attribute__((noreturn)) power_off(void)
{
    serial_flush();
    outb(0xF4, 0x10);       /* isa-debug-exit,iobase=0xf4: QEMU exits with status 33 */
    outw(0x604, 0x2000);    /* pc/q35: PM1a_CNT (SeaBIOS PMBASE 0x600), SLP_EN, S5 */
    settle();
    *(volatile u8 *)0xFEA00200 = 0x34; /* microvm: ACPI GED sleep control, SLP_EN, S5 */
    settle();
    outw(0xB004, 0x2000);   /* Bochs/old QEMU shutdown port */
    triple_fault();         /* with -no-reboot QEMU exits */
    for (;;)
        __asm__ volatile("cli; hlt");
}

void __attribute__((noreturn)) probe_fault(u32 vector)
{
    put_str("\nCPUID-PROBE-FAULT vector=");
    put_hex(vector, 2);
    put_char('\n');
    power_off();
}

/* ---- OS-like state ------------------------------------------------------------------ */

static u32 max_basic_leaf(void)
{
    struct regs r;
    cpuid(0, 0, &r);
    return r.eax;
}

/* CR4.OSXSAVE and XCR0 = all user components offered; returns the XCR0 written. */
static u64 enable_xsave(void)
{
    struct regs r;
    cpuid(0xD, 0, &r);
    u64 xcr0 = (((u64)r.edx << 32) | r.eax) | 1; /* x87 state must always be on */
    write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE);
    xsetbv0(xcr0);
    return xcr0;
}

static void enable_pke(void)
{
    write_cr4(read_cr4() | CR4_PKE);
}

/* Sets the OS-like state unless `bare`; returns the XCR0 in force (0: no XSAVE). */
static u64 setup_state(int bare)
{
    struct regs leaf1, leaf7 = {0, 0, 0, 0};
    u32 max = max_basic_leaf();
    if (max < 1)
        return 0;
    cpuid(1, 0, &leaf1);
    int xsave = (leaf1.ecx >> 26) & 1;
    if (bare)
        return xsave ? 1 : 0; /* the reset value; nothing written */
    u64 xcr0 = (xsave && max >= 0xD) ? enable_xsave() : (xsave ? 1 : 0);
    if (max >= 7)
        cpuid(7, 0, &leaf7);
    if ((leaf7.ecx >> 3) & 1)
        enable_pke();
    return xcr0;
}

/* ---- enumeration ----------------------------------------------------------------------- */

static void print_leaf(u32 leaf, u32 subleaf, const struct regs *r)
{
    put_str("   ");
    put_hex(leaf, 8);
    put_char(' ');
    put_hex(subleaf, subleaf > 0xFF ? 8 : 2);
    put_str(": eax=");
    put_hex(r->eax, 8);
    put_str(" ebx=");
    put_hex(r->ebx, 8);
    put_str(" ecx=");
    put_hex(r->ecx, 8);
    put_str(" edx=");
    put_hex(r->edx, 8);
    end_dump_line();
}

static void probe(u32 leaf, u32 subleaf, struct regs *r)
{
    cpuid(leaf, subleaf, r);
    print_leaf(leaf, subleaf, r);
}

static void subleaf_range(u32 leaf, u32 first, u32 last)
{
    struct regs r;
    for (u32 s = first; s <= last; s++)
        probe(leaf, s, &r);
}

/* Subleaves first..31 whose bit is set in `mask`. */
static void subleaf_bits(u32 leaf, u32 first, u32 mask)
{
    struct regs r;
    for (u32 s = first; s < 32; s++)
        if ((mask >> s) & 1)
            probe(leaf, s, &r);
}

/* Cache leaves: subleaves while the cache type (EAX[4:0]) is non-zero; the null entry is
 * not printed. */
static void walk_caches(u32 leaf, const struct regs *first)
{
    struct regs r;
    if ((first->eax & 0x1F) == 0)
        return;
    for (u32 s = 1; s <= SUBLEAF_CAP; s++) {
        cpuid(leaf, s, &r);
        if ((r.eax & 0x1F) == 0)
            return;
        print_leaf(leaf, s, &r);
    }
}

/* Subleaves first.. until `type` reads 0, printing that terminating entry too. */
static void walk_until_zero(u32 leaf, u32 first, u32 (*type)(const struct regs *))
{
    struct regs r;
    for (u32 s = first; s <= SUBLEAF_CAP; s++) {
        probe(leaf, s, &r);
        if (type(&r) == 0)
            return;
    }
}

static u32 level_type(const struct regs *r) { return (r->ecx >> 8) & 0xFF; }
static u32 pconfig_type(const struct regs *r) { return r->eax & 0xFFF; }
static u32 epc_type(const struct regs *r) { return r->eax & 0xF; }

static u32 min_u32(u32 a, u32 b) { return a < b ? a : b; }
static u32 max_u32(u32 a, u32 b) { return a > b ? a : b; }

/* Subleaf 0 of `leaf`, then the subleaves its table entry asks for. */
static void dump_leaf(u32 leaf)
{
    struct regs r0;
    probe(leaf, 0, &r0);
    switch (leaf) {
    case 0x4:
    case 0x8000001D:
        walk_caches(leaf, &r0);
        break;
    case 0xB:
    case 0x1F:
    case 0x80000026:
        if (level_type(&r0))
            walk_until_zero(leaf, 1, level_type);
        break;
    case 0x1B:
        if (pconfig_type(&r0))
            walk_until_zero(leaf, 1, pconfig_type);
        break;
    case 0x7:
        subleaf_range(leaf, 1, min_u32(max_u32(r0.eax, 3), COUNTED_CAP));
        break;
    case 0x14:
    case 0x17:
    case 0x18:
    case 0x1D:
    case 0x1E:
    case 0x24:
        subleaf_range(leaf, 1, min_u32(r0.eax, COUNTED_CAP));
        break;
    case 0xD:
        subleaf_range(leaf, 1, 63);
        break;
    case 0xF:
        subleaf_range(leaf, 1, 1);
        subleaf_bits(leaf, 2, r0.edx);
        break;
    case 0x10:
    case 0x80000020:
        subleaf_range(leaf, 1, 3);
        subleaf_bits(leaf, 4, r0.ebx);
        break;
    case 0x12:
        subleaf_range(leaf, 1, 1); /* then the EPC sections */
        walk_until_zero(leaf, 2, epc_type);
        break;
    case 0x23:
        subleaf_bits(leaf, 1, r0.eax);
        break;
    default:
        break;
    }
}

/* Leaves base..max of one range; a max outside base..base+0xff prints only the base. */
static void dump_range(u32 base, u32 max)
{
    if (max < base || max > base + RANGE_SPAN)
        max = base;
    for (u32 leaf = base; leaf <= max; leaf++)
        dump_leaf(leaf);
}

static void dump_hypervisor(void)
{
    struct regs r;
    cpuid(HYPERVISOR_BASE, 0, &r);
    dump_range(HYPERVISOR_BASE, r.eax);
    cpuid(HYPERVISOR_SECOND, 0, &r);
    int signed_range = r.eax >= HYPERVISOR_SECOND && r.eax <= HYPERVISOR_SECOND + RANGE_SPAN;
    if (signed_range && (r.ebx | r.ecx | r.edx) != 0)
        dump_range(HYPERVISOR_SECOND, r.eax);
}

static void dump_all(void)
{
    struct regs r;
    u32 max_basic = min_u32(max_basic_leaf(), BASIC_CAP);
    for (u32 leaf = 0; leaf <= max_basic; leaf++)
        dump_leaf(leaf);
    if (max_basic >= 1) {
        cpuid(1, 0, &r);
        if ((r.ecx >> 31) & 1)
            dump_hypervisor();
    }
    cpuid(EXTENDED_BASE, 0, &r);
    u32 max_ext = r.eax > EXTENDED_BASE + RANGE_SPAN ? EXTENDED_BASE + RANGE_SPAN : r.eax;
    dump_range(EXTENDED_BASE, max_ext);
}

/* ---- entry ------------------------------------------------------------------------------- */

static int word_in(const char *text, const char *word)
{
    for (const char *p = text; *p; p++) {
        if (p != text && p[-1] != ' ')
            continue;
        const char *a = p, *b = word;
        while (*b && *a == *b)
            a++, b++;
        if (!*b && (*a == ' ' || *a == '\0'))
            return 1;
    }
    return 0;
}

static int bare_requested(u32 magic, const u32 *info)
{
    if (magic != MULTIBOOT_BOOTED || !info || !(info[0] & MULTIBOOT_CMDLINE) || !info[4])
        return 0;
    return word_in((const char *)info[4], "bare");
}

void __attribute__((noreturn)) probe_main(u32 magic, const u32 *info)
{
    serial_init();
    int bare = bare_requested(magic, info);
    put_str("CPUID-PROBE-START\n"); /* sent before the CR4 write that QEMU 7.2 TCG can hang on */
    serial_flush();
    u64 xcr0 = setup_state(bare);
    put_str(bare ? "CPUID-PROBE-BEGIN mode=bare\n" : "CPUID-PROBE-BEGIN mode=os\n");
    put_str("CPU:");
    end_dump_line();
    dump_all();
    if (xcr0) {
        put_str("   xcr0=");
        put_hex(xcr0, 16);
        end_dump_line();
    }
    put_str("CPUID-PROBE-END lines=");
    put_dec(lines_printed);
    put_str(" cr4=");
    put_hex(read_cr4(), 8);
    put_char('\n');
    power_off();
}
