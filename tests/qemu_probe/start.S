/*
 * Entry of the CPUID probe guest: the Multiboot v1 header, a flat GDT of our own, an IDT
 * whose 32 exception gates report the vector and power off (so a fault is visible instead of
 * a silent reset through the real-mode IVT QEMU leaves behind), then a call into C.
 */

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0
#define CODE_SEL 0x08
#define DATA_SEL 0x10

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .text
    .globl _start
_start:
    cli
    movl $stack_top, %esp
    movl %eax, %esi                 /* Multiboot magic and info pointer survive the reload */
    movl %ebx, %edi
    lgdt gdt_ptr
    ljmp $CODE_SEL, $1f
1:  movw $DATA_SEL, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    call fill_idt
    lidt idt_ptr
    pushl %edi
    pushl %esi
    call probe_main                 /* does not return */
2:  hlt
    jmp 2b

/* Write 32 interrupt gates, gate N pointing at exc_stub_N. */
fill_idt:
    xorl %ecx, %ecx
3:  movl exc_stubs(,%ecx,4), %eax
    movw %ax, idt(,%ecx,8)
    movw $CODE_SEL, idt+2(,%ecx,8)
    movw $0x8E00, idt+4(,%ecx,8)    /* present, DPL 0, 32-bit interrupt gate */
    shrl $16, %eax
    movw %ax, idt+6(,%ecx,8)
    incl %ecx
    cmpl $32, %ecx
    jb 3b
    ret

/* Each stub pushes its vector and calls C; nothing ever returns from a fault. */
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
exc_stub_\n:
    pushl $\n
    call probe_fault
    .endr

    .section .rodata
    .balign 4
exc_stubs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .long exc_stub_\n
    .endr

    .balign 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF        /* 0x08: flat 32-bit code */
    .quad 0x00CF92000000FFFF        /* 0x10: flat data */
gdt_ptr:
    .word gdt_ptr - gdt - 1
    .long gdt
idt_ptr:
    .word 32 * 8 - 1
    .long idt

    .bss
    .balign 8
idt:
    .skip 32 * 8
    .balign 16
    .skip 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
