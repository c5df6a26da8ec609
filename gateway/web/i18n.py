"""The desk's words in Thai (first) and English. A key missing in English falls back to
Thai, never to the key itself."""
from __future__ import annotations

import datetime as dt

from rules.thai_time import THAI_MONTHS_SHORT, to_bangkok

WORDS: dict[str, tuple[str, str]] = {
    "app": ("ระบบรับหนังสือราชการ สารบรรณกลาง", "Saraban desk"),
    "sign_in": ("เข้าสู่ระบบ", "Sign in"),
    "sign_out": ("ออกจากระบบ", "Sign out"),
    "sign_out_here": ("กดปุ่มด้านล่างเพื่อออกจากระบบ", "Press the button below to sign out."),
    "username": ("ชื่อผู้ใช้", "User name"),
    "password": ("รหัสผ่าน", "Password"),
    "bad_credentials": ("ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง", "Wrong user name or password."),
    "directory_unavailable": ("ขณะนี้ติดต่อระบบบัญชีผู้ใช้ของหน่วยงาน (ไดเรกทอรี LDAP/Active Directory) ไม่ได้ "
                              "จึงยังตรวจรหัสผ่านไม่ได้ กรุณาลองใหม่ในอีกสักครู่ หากยังไม่ได้ให้แจ้งผู้ดูแลระบบ",
                              "The directory (LDAP/Active Directory) cannot be reached right now, so the password "
                              "could not be checked. Try again in a few minutes; if it goes on, tell the "
                              "system administrator."),
    "too_many_attempts": ("มีการพยายามเข้าสู่ระบบจากเครื่องนี้มากเกินไป กรุณารอสักครู่",
                          "Too many sign-in attempts from this computer; wait a minute."),
    "sign_ins_busy": ("ขณะนี้มีผู้พยายามเข้าสู่ระบบพร้อมกันมากเกินไป กรุณาลองใหม่ในอีกสักครู่",
                      "Too many sign-ins at once right now; try again shortly."),
    "csrf": ("แบบฟอร์มหมดอายุหรือไม่ได้มาจากหน้านี้ กรุณาโหลดหน้าใหม่แล้วลองอีกครั้ง",
             "The form expired or did not come from this page; reload the page and try again."),
    "session_expired": ("การเข้าสู่ระบบหมดอายุ", "Your session has ended"),
    "session_expired_text": ("การเข้าสู่ระบบหมดอายุหรือท่านออกจากระบบแล้ว สิ่งที่กรอกไว้ยังไม่ได้บันทึก "
                             "กรุณาเข้าสู่ระบบใหม่แล้วทำรายการอีกครั้ง",
                             "Your session ended or you signed out; what you typed was not saved. "
                             "Sign in again and redo it."),
    "not_found": ("ไม่พบหน้าที่ต้องการ", "Not found"),
    "not_found_text": ("ไม่มีรายการนี้ หรือท่านไม่มีสิทธิ์เห็นรายการนี้",
                       "There is no such entry, or it is not yours to see."),
    "wrong_method": ("หน้านี้เปิดจากปุ่มในหน้าของระบบ", "This address is for a button on the desk"),
    "wrong_method_text": ("ที่อยู่นี้ใช้กับการกดปุ่มในหน้าของระบบ (เช่น เปิดดูเนื้อหา หรือ ลองส่งใหม่) "
                          "ไม่ได้เปิดโดยตรงหรือจากบุ๊กมาร์ก กรุณากลับไปที่หน้าก่อนหน้าแล้วกดปุ่มอีกครั้ง",
                          "This address answers a button on the desk's pages (such as Show the content or Retry), "
                          "not a link or a bookmark; go back to the page before and press the button again."),
    "forbidden": ("ท่านไม่มีสิทธิ์ทำรายการนี้", "You may not do this."),
    "error": ("ระบบขัดข้อง", "Something went wrong"),
    "error_text": ("ระบบทำรายการไม่สำเร็จ ได้บันทึกเหตุไว้ให้ผู้ดูแลระบบแล้ว",
                   "The desk could not do this; the cause is in the log for the administrator."),
    "register_busy": ("ทะเบียนไม่ว่างชั่วคราว", "The register is busy"),
    "register_busy_text": ("ขณะนี้มีโปรแกรมอื่นใช้ฐานข้อมูลทะเบียนอยู่ ระบบจึงทำรายการนี้ไม่ได้ "
                           "กรุณาลองใหม่ในอีกหนึ่งนาที หากยังไม่ได้ให้แจ้งผู้ดูแลระบบ",
                           "The register is busy: another program holds the database, so the desk could "
                           "not do this. Try again in a minute; if it goes on, tell the system administrator."),
    "bad_request": ("คำขอไม่ถูกต้อง", "Bad request"),
    "bad_request_text": ("แบบฟอร์มหรือที่อยู่หน้านี้มีข้อมูลที่ระบบรับไม่ได้ (เช่น ช่องหรือไฟล์มากเกินไป หรือข้อความยาวเกินไป) "
                         "กรุณากลับไปแก้ไขแล้วลองอีกครั้ง",
                         "The form or the address holds something the desk cannot take (too many fields or "
                         "files, a text too long); go back, correct it and try again."),
    "bad_date": ("วันที่อยู่นอกช่วงที่ใช้ได้", "That date is out of range."),
    "bad_book": ("ไม่มีทะเบียนนี้", "There is no such register book."),
    "too_large": ("ไฟล์ใหญ่เกินกำหนด", "The upload is too large."),
    "too_large_text": ("ไฟล์ที่แนบรวมกับแบบฟอร์มมีขนาดเกิน {mb} MB จึงยังไม่ได้บันทึกสิ่งใด กรุณากดย้อนกลับ (Back) "
                       "ไปที่แบบฟอร์ม แล้วแนบไฟล์ที่เล็กลง เช่น สแกนใหม่ที่ความละเอียดต่ำลง (200 dpi ขาวดำหรือสีเทา)",
                       "The files attached to the form come to more than {mb} MB, so nothing was saved. Go Back "
                       "to the form and attach smaller files, for example scanned again at a lower resolution "
                       "(200 dpi, black and white or grey)."),
    "too_many_files": ("แนบไฟล์ได้ไม่เกิน {files} ไฟล์ต่อครั้ง จึงยังไม่ได้บันทึกสิ่งใด กรุณากดย้อนกลับ (Back) "
                       "ไปที่แบบฟอร์ม แล้วรวมหน้าที่สแกนไว้เป็นไฟล์ PDF ไฟล์เดียว",
                       "At most {files} files can be attached at once, so nothing was saved. Go Back to the "
                       "form and put the scanned pages into one PDF file."),
    "register": ("ทะเบียนหนังสือรับ", "Receive register"),
    "secret_register": ("ทะเบียนหนังสือรับลับ", "Secret register"),
    "quarantine": ("หนังสือที่กักไว้", "Held letters"),
    "export": ("พิมพ์/ส่งออก", "Print / export"),
    "emergency": ("ทะเบียนฉุกเฉิน", "Emergency register"),
    "operations": ("สถานะระบบ", "Operations"),
    "unit": ("หน่วยงาน", "Unit"),
    "book": ("ทะเบียน", "Book"),
    "year": ("ปี พ.ศ.", "Year (BE)"),
    "search": ("ค้นหา", "Search"),
    "search_sender": ("ค้นหาตามที่อยู่อีเมลผู้ส่ง", "Search by the sender's address"),
    "search_secret_hint": ("เช่น saraban@moi.go.th หรือ moi.go.th", "e.g. saraban@moi.go.th or moi.go.th"),
    "search_secret_only": ("ทะเบียนหนังสือรับลับค้นหาได้ด้วยที่อยู่อีเมลผู้ส่งเท่านั้น (ตัวอักษรอังกฤษ ตัวเลข . @ -) "
                           "เรื่องและชื่อของหนังสือลับปิดผนึกไว้ จึงค้นหาไม่ได้ และไม่ควรพิมพ์ลงในช่องค้นหา",
                           "The secret register is searched by the sender's address only (Latin letters, digits, "
                           ". @ -): a classified letter's subject and names are sealed, cannot be searched, and "
                           "should not be typed here"),
    "search_hint": ("เลขรับ เรื่อง ผู้ส่ง หรือเลขที่หนังสือ (บางส่วนของคำก็ได้)",
                    "receive number, subject, sender or reference (any part)"),
    "received_from": ("รับตั้งแต่วันที่", "Received from"),
    "received_to": ("ถึงวันที่", "to"),
    "review_only": ("เฉพาะที่ควรตรวจสอบ", "Needs review only"),
    "verdict": ("ลายมือชื่อ", "Signature"),
    "any": ("ทั้งหมด", "any"),
    "v_passed": ("ผ่าน", "passed"),
    "v_failed": ("ไม่ผ่าน", "failed"),
    "v_indeterminate": ("ตรวจสอบไม่ได้", "indeterminate"),
    "v_unsigned": ("ไม่มีลายมือชื่อ", "unsigned"),
    "col_no": ("เลขทะเบียนรับ", "No."),
    "col_ref": ("ที่", "Reference"),
    "col_date": ("ลงวันที่", "Dated"),
    "col_from": ("จาก", "From"),
    "col_to": ("ถึง", "To"),
    "col_subject": ("เรื่อง", "Subject"),
    "col_action": ("การปฏิบัติ", "Action"),
    "col_remarks": ("หมายเหตุ", "Remarks"),
    "received": ("วันเวลาที่รับ", "Received"),
    "entries": ("รายการ", "entries"),
    "page": ("หน้า", "page"),
    "previous": ("ก่อนหน้า", "previous"),
    "next": ("ถัดไป", "next"),
    "nothing": ("ไม่มีรายการ", "Nothing here."),
    # A form sent without what it needs, said as what to do (it was "ไม่มีรายการ" / "Nothing
    # here." above the list the clerk had forgotten to tick, until session 52).
    "none_ticked": ("ยังไม่ได้เลือกรายการ กรุณาทำเครื่องหมายหน้ารายการที่ต้องการ แล้วกดปุ่มอีกครั้ง",
                    "Nothing was ticked: tick the entries you mean, then press the button again."),
    "no_scans": ("ยังไม่ได้แนบไฟล์สแกน กรุณาแนบไฟล์สแกนของหนังสืออย่างน้อยหนึ่งไฟล์ แล้วกดปุ่มอีกครั้ง",
                 "No scan was attached: attach at least one scan of the letter, then press the button again."),
    "note_required": ("กรุณาพิมพ์ข้อความบันทึก (เว้นวรรคอย่างเดียวไม่นับเป็นบันทึก)",
                      "Type the note (spaces alone are no note)."),
    "department_required": ("กรุณาระบุฝ่าย/หน่วยที่ปฏิบัติ (เว้นวรรคอย่างเดียวไม่นับ)",
                            "Name the department that acts on it (spaces alone are not a name)."),
    "letter": ("หนังสือเลขรับ", "Letter"),
    "files": ("ไฟล์", "Files"),
    "no_files": ("ไม่มีไฟล์แนบ", "No files attached."),
    "file_damaged": ("สำเนาไฟล์นี้ในคลังเอกสารของระบบเสียหาย", "The stored copy of this file is damaged"),
    "file_damaged_text": ("เปิดไฟล์นี้ไม่ได้เพราะสำเนาที่ระบบเก็บไว้เสียหาย ได้บันทึกเหตุไว้ให้ผู้ดูแลระบบแล้ว "
                          "กรุณาแจ้งผู้ดูแลระบบเพื่อกู้คืนจากข้อมูลสำรอง",
                          "The file cannot be opened: the copy the gateway keeps is damaged. The cause is in "
                          "the log; ask the system administrator to restore it from the backup."),
    "file_elsewhere": ("ไฟล์อยู่ที่เกตเวย์เครื่องที่รับหนังสือไว้", "The file is kept on the gateway that received the letter"),
    "mail_text": ("ข้อความในอีเมล", "Text of the e-mail"),
    "sealed_files": ("ไฟล์แนบของหนังสือลับฉบับนี้ปิดผนึกไว้ (ลับ) ไม่แสดงในหน้านี้",
                     "The files of this classified letter are sealed (ลับ) and not shown here."),
    "sealed_mail_text": ("ข้อความของหนังสือลับฉบับนี้ปิดผนึกไว้ (ลับ) ไม่แสดงในหน้านี้",
                         "The text of this classified letter is sealed (ลับ) and not shown here."),
    "sealed_text": ("(ปิดผนึกไว้: ลับ — แสดงเมื่อกดเปิดดูเนื้อหา)", "(sealed: classified — shown once the letter is opened)"),
    "sealed_reason": ("(เหตุผลปิดผนึกไว้: ลับ)", "(reason sealed: classified)"),
    "envelope_sender": ("ผู้ส่งตามซองอีเมล (MAIL FROM)", "Envelope sender (MAIL FROM)"),
    "sender_check": ("ยืนยันผู้ส่ง", "Sender verified"),
    "mail_size": ("ขนาดอีเมล", "Size of the e-mail"),
    "held_details": ("ดูข้อมูลประกอบการพิจารณา (ประเภทไฟล์ ขนาด ลายมือชื่อ เหตุที่กัก) โดยไม่เปิดเนื้อหา",
                     "Show what to decide on (file types, sizes, signatures, why it is held) without the content"),
    "details_confirm": ("ข้าพเจ้ายืนยันว่าต้องดูข้อมูลประกอบการพิจารณาหนังสือลับที่กักไว้นี้ และทราบว่าการเปิดดูจะถูกบันทึกไว้",
                        "I confirm that I need these details of a held classified letter to decide on it, "
                        "and that opening them is recorded"),
    "details_title": ("ข้อมูลประกอบการพิจารณา (ไม่แสดงเนื้อหา ชื่อเรื่อง หรือชื่อไฟล์)",
                      "What to decide on (no content, subject or file names shown)"),
    "file_no": ("ไฟล์ที่", "File"),
    "declared_as": ("ผู้ส่งระบุว่า", "labelled"),
    "signed_yes": ("มีลายมือชื่ออิเล็กทรอนิกส์ (ยังไม่ได้ตรวจสอบ นายทะเบียนลับตรวจได้เมื่อรับเข้าทะเบียนแล้ว)",
                   "carries a digital signature (not verified: the registrar verifies it once registered)"),
    "signed_no": ("ไม่มีลายมือชื่ออิเล็กทรอนิกส์", "no digital signature"),
    "pdf_password": ("PDF ใส่รหัสผ่าน", "PDF with a password"),
    "held_for": ("เหตุที่กักไว้", "Why it is held"),
    "held_for_check": ("ไม่ผ่านการตรวจ", "did not pass the check"),
    "smime_arrived": ("ส่งมาแบบเข้ารหัส S/MIME", "arrived encrypted (S/MIME)"),
    "opaque_pdf": ("มี PDF ที่ระบบเปิดอ่านไม่ได้ (ใส่รหัสผ่านหรือเข้ารหัสถึงใบรับรอง)",
                   "holds a PDF the gateway cannot open (a password, or encrypted to a certificate)"),
    "no_files_in_letter": ("ไม่มีไฟล์แนบ", "no files attached"),
    "audit_view_held": ("เปิดดูข้อมูลประกอบการพิจารณาหนังสือที่กักไว้", "opened a held letter's details to decide on it"),
    "no_mail_text": ("อีเมลนี้ไม่มีข้อความ", "The e-mail has no text."),
    "mail_text_unread": ("ข้อความของอีเมลฉบับนี้ยาวเกินกว่าจะอ่านแสดงที่นี่ได้ทันที จึงไม่ได้แสดง",
                         "The e-mail's text takes too long to read to be shown here, so it is not shown."),
    "mail_text_cut": ("แสดงเพียง 20,000 ตัวอักษรแรกของข้อความ", "Only the first 20,000 characters are shown."),
    "stamped_copy": ("ฉบับประทับตรารับ (ส่งเข้าโฟลเดอร์ของหน่วยงาน)", "Copy with the receive stamp (as filed to the unit)"),
    "original": ("ต้นฉบับ", "original"),
    "findings": ("ผลการตรวจ", "Findings"),
    "filing": ("การส่งเข้าแฟ้มและการแจ้งผู้ส่ง", "Filing and notices"),
    "actions_done": ("สิ่งที่เจ้าหน้าที่ทำ", "What people did"),
    "notes": ("บันทึก", "Notes"),
    "add_note": ("เพิ่มบันทึก", "Add note"),
    "assign": ("มอบหมายให้หน่วย", "Assign to department"),
    "assigned": ("มอบหมายแล้ว", "assigned"),
    "export_failed": ("ขณะนี้พิมพ์ทะเบียนเป็น PDF หรือส่งออกทะเบียนไม่ได้ เนื่องจากการตั้งค่าของระบบ "
                      "กรุณาแจ้งผู้ดูแลระบบ (รายละเอียดอยู่ในบันทึกของระบบ: web_export_failed)",
                      "The register cannot be printed as a PDF or exported right now because of the "
                      "system's configuration. Tell the system administrator (the details are in the log: "
                      "web_export_failed)."),
    "assign_cancelled": ("เลขรับ {receive_no} ยกเลิกแล้ว โดย {who} เมื่อ {at} จึงมอบหมายให้ฝ่ายใดไม่ได้ "
                         "(เพิ่มบันทึกได้)",
                         "Receive number {receive_no} was cancelled by {who} at {at}, so it is assigned to no "
                         "department (a note may still be added)."),
    "assigned_meanwhile": ("ระหว่างที่เปิดหน้านี้อยู่ หนังสือนี้ได้มอบหมายให้ \"{department}\" แล้ว โดย {who} เมื่อ {at} "
                           "จึงยังไม่ได้บันทึกการมอบหมายของท่าน หากต้องการเปลี่ยน กรุณากดบันทึกอีกครั้ง",
                           "While this page was open, the letter was assigned to \"{department}\" by {who} at "
                           "{at}, so your assignment was not saved. To change it, press Save again."),
    "department": ("ฝ่าย/หน่วยที่ปฏิบัติ", "Department"),
    "cancel_entry": ("ยกเลิกรายการ (เลขรับไม่นำมาใช้ใหม่)", "Cancel entry (the number is not reused)"),
    "reason": ("เหตุผล", "Reason"),
    "reason_required": ("กรุณาระบุเหตุผล", "Give a reason."),
    "save": ("บันทึก", "Save"),
    "cancelled": ("ยกเลิก", "cancelled"),
    "review": ("ควรตรวจสอบ", "needs review"),
    "signature": ("ลายมือชื่ออิเล็กทรอนิกส์", "Electronic signature"),
    "sig_none": ("ไม่มีลายมือชื่อ", "no signature"),
    # A document timestamp (a TSA's token) names its authority, never a signer.
    "doc_timestamp": ("ตราประทับเวลา ไม่ใช่ลายมือชื่อ", "document timestamp, not a signature"),
    # A ZIP: the PDFs inside are not verified (gateway/signatures/check.py), so "no
    # signature" would be untrue.
    "sig_unchecked": ("ไม่ได้ตรวจลายมือชื่อ", "signatures not checked"),
    "size": ("ขนาด", "size"),
    "held_at": ("กักไว้เมื่อ", "Held at"),
    "sender": ("ผู้ส่ง", "Sender"),
    "reasons": ("เหตุที่กักไว้", "Why it was held"),
    "release": ("รับเข้าทะเบียน", "Release (register it)"),
    "reject": ("ปฏิเสธ", "Reject"),
    "reprocess": ("ตรวจซ้ำ", "Reprocess"),
    "reprocessing": ("ส่งกลับเข้าระบบตรวจแล้ว ระบบจะตรวจและลงทะเบียนให้เอง ดูผลได้ในทะเบียนหรือในหน้านี้",
                     "Sent back to the pipeline; the gateway checks and registers it by itself. "
                     "See the register or this page for the outcome."),
    "not_parked": ("ตรวจซ้ำได้เฉพาะหนังสือที่ระบบตรวจไม่สำเร็จ (พักไว้) รายการนี้ให้รับเข้าทะเบียนหรือปฏิเสธ",
                   "Only a letter the gateway could not process (parked) is reprocessed here; release or "
                   "reject this one."),
    "select_all": ("เลือกทั้งหมด", "select all"),
    "released_as": ("รับเข้าทะเบียนแล้ว เลขรับ", "Released, receive number"),
    "rejected": ("ปฏิเสธแล้ว", "Rejected"),
    "refused": ("ทำรายการไม่ได้", "Not done"),
    "done": ("เรียบร้อย", "Done"),
    "state_held": ("กักไว้", "held"),
    "state_released": ("รับเข้าแล้ว", "released"),
    "state_rejected": ("ปฏิเสธแล้ว", "rejected"),
    "classified": ("หนังสือลับ", "classified"),
    "sealed_registrar_only": ("รายการนี้เป็นหนังสือลับ ผู้ที่รับเข้าทะเบียน ปฏิเสธ หรือตรวจซ้ำได้มีเพียงนายทะเบียนลับของหน่วยงาน",
                              "This is a classified letter: only the unit's secret registrar may release, reject or "
                              "reprocess it."),
    "reveal": ("เปิดดูเนื้อหา", "Show the content"),
    "reveal_confirm": ("ข้าพเจ้ายืนยันว่าจำเป็นต้องเปิดดูหนังสือลับนี้ และทราบว่าการเปิดดูจะถูกบันทึกไว้",
                       "I confirm that I need to open this classified letter and that opening it is recorded."),
    "cannot_decrypt": ("เปิดหนังสือลับฉบับนี้ไม่ได้ในขณะนี้ ได้บันทึกเหตุไว้ให้ผู้ดูแลระบบแล้ว กรุณาติดต่อผู้ดูแลระบบ",
                       "This classified letter cannot be opened now; the cause is in the log for the "
                       "administrator."),
    "tampered": ("หนังสือลับที่เก็บไว้ถูกเปลี่ยนแปลง จึงไม่แสดง ได้บันทึกเหตุไว้ให้ผู้ดูแลระบบแล้ว",
                 "The stored letter was changed; it is not shown. The cause is in the log for the administrator."),
    "audit_trail": ("บันทึกการเปิดดูหนังสือลับ", "Audit trail of classified letters"),
    "language": ("English", "ภาษาไทย"),
    "urgency_most_urgent": ("ด่วนที่สุด", "most urgent"),
    "urgency_very_urgent": ("ด่วนมาก", "very urgent"),
    "urgency_urgent": ("ด่วน", "urgent"),
    "queue_id": ("รหัสคิว", "Queue id"),
    "registered_at": ("ลงทะเบียนเมื่อ", "Registered"),
    "emergency_no": ("เลขทะเบียนฉุกเฉิน", "Emergency number"),
    "role": ("บทบาท", "Role"),
    "digits": ("ตัวเลขไทย / ตัวเลขอารบิก", "Thai or Arabic digits"),
    "format": ("รูปแบบ", "Format"),
    "pdf_book": ("สมุดทะเบียน (PDF สำหรับพิมพ์)", "Register book (PDF to print)"),
    "csv_sheet": ("ตาราง CSV (เปิดด้วย Excel)", "CSV sheet (opens in Excel)"),
    "download": ("ดาวน์โหลด", "Download"),
    "book_general": ("ทะเบียนหนังสือรับ", "General register"),
    "book_secret": ("ทะเบียนหนังสือรับลับ", "Secret register"),
    "emergency_intro": ("บันทึกหนังสือที่ลงเลขในสมุดทะเบียนฉุกเฉินระหว่างระบบขัดข้อง พร้อมไฟล์สแกน "
                        "หนังสือจะได้เลขรับถัดไปของทะเบียนและเก็บเลขทะเบียนฉุกเฉินไว้",
                        "Enter a letter numbered in the paper emergency register during an outage, with its scans; "
                        "it gets the register's next receive number and keeps its emergency number."),
    "scans": ("ไฟล์สแกน (PDF, JPEG, PNG, TIFF)", "Scans (PDF, JPEG, PNG, TIFF)"),
    "scan_files": ("ไฟล์", "files"),
    "check": ("ตรวจสอบ", "Check"),
    "import": ("ลงทะเบียน", "Register"),
    # A browser keeps no file in a form drawn again: the scan is attached once more.
    "checked_ok": ("ตรวจสอบแล้ว ข้อมูลถูกต้อง แนบไฟล์สแกนอีกครั้ง แล้วกด \"ลงทะเบียน\" เพื่อบันทึก",
                   "Checked: all fields are right; attach the scan again, then press Register to enter it."),
    "emergency_top_secret": ("ไม่ได้นำเข้า: หนังสือฉบับนี้เป็นหนังสือชั้นลับที่สุด ซึ่งต้องเก็บเป็นเอกสารกระดาษ "
                             "ห้ามนำเข้าระบบอิเล็กทรอนิกส์",
                             "Not entered: this letter is marked ลับที่สุด (top secret), which stays on paper "
                             "and is never entered into an electronic system."),
    "already": ("มีในทะเบียนแล้ว", "already in the register"),
    "same_letter": ("อาจเป็นหนังสือฉบับเดียวกับที่ลงทะเบียนรับทางอีเมลแล้วเป็นเลขรับ",
                    "possibly the letter registered from e-mail as"),
    "same_letter_check": ("โปรดตรวจสอบ หากซ้ำให้ยกเลิกเลขรับฉบับใดฉบับหนึ่ง", "check, and cancel one entry if so"),
    "spool": ("หนังสือรอตรวจ", "Spool"),
    "outbox": ("งานส่งต่อ", "Outbox"),
    "dead_items": ("งานที่ส่งไม่สำเร็จ", "Dead items"),
    "retry": ("ลองส่งใหม่", "Retry"),
    "retry_all": ("ลองส่งใหม่ทั้งหมด", "Retry all dead"),
    "keys": ("กุญแจและใบรับรอง", "Keys and certificates"),
    "warnings": ("คำเตือน", "Warnings"),
    "last_errors": ("ข้อผิดพลาดล่าสุด", "Last errors"),
    "ops_parked": ("พักไว้ (ตรวจไม่สำเร็จ)", "parked"),
    "ops_messages": ("จดหมายที่รับ", "messages"),
    "message_processing": ("กำลังตรวจ", "being checked"),
    "message_done": ("เรียบร้อย", "done"),
    "message_quarantined": ("กักไว้", "held"),
    "ops_kind": ("ประเภท", "Kind"),
    "ops_attempts": ("ครั้งที่ลอง", "Attempts"),
    "ops_last_error": ("เหตุที่ไม่สำเร็จครั้งล่าสุด", "Last error"),
    "ops_key_subject": ("ชื่อในใบรับรอง", "Subject"),
    "ops_not_after": ("หมดอายุ", "Not after"),
    "ops_days_left": ("เหลืออีก (วัน)", "Days left"),
    "ops_problem": ("ปัญหา", "Problem"),
    "ops_current": ("ใช้อยู่", "current"),
    "key_gateway": ("กุญแจของระบบ", "gateway key"),
    "key_registrar": ("ใบรับรองนายทะเบียนลับ", "secret registrar's certificate"),
    "key_seal": ("กุญแจลงนามตรารับ", "receive stamp's seal key"),
    "notices_held": ("หนังสือแจ้งที่ค้างอยู่", "Notices held"),
    "bytes": ("ไบต์", "bytes"),
    "no_name": ("(ไม่มีชื่อ)", "(no name)"),
    "bad_day": ("วันที่ไม่ถูกต้อง กรุณาเขียนเป็น วัน/เดือน/ปี พ.ศ. เช่น 30/11/2569",
                "That is not a day; write it day/month/year, e.g. 30/11/2569 (BE) or 2026-11-30."),
    "secret_book_not_yours": ("ทะเบียนหนังสือลับของหน่วยงานนี้อยู่ในความดูแลของนายทะเบียนลับของหน่วยงานนั้นเอง ท่านพิมพ์ทะเบียนลับได้เฉพาะของ",
                              "The secret book of that unit is kept by its own secret registrar; you may print the secret book of"),
    "bad_year": ("ปี พ.ศ. ไม่ถูกต้อง กรุณาเขียนเป็นตัวเลขสี่หลัก เช่น 2569",
                 "That is not a Buddhist-era year; write four digits, e.g. 2569."),
    "days_reversed": ("วันที่เริ่มต้องไม่อยู่หลังวันที่สิ้นสุด กรุณาสลับวันที่ทั้งสองช่อง",
                      "The first day is after the last: swap the two days."),
    "days_outside_year": ("วันที่ที่เลือกอยู่ในปี พ.ศ. {days_year} แต่ปีของทะเบียนที่เลือกคือ พ.ศ. {year} "
                          "ทะเบียนแต่ละปีมีเลขรับของตนเอง กรุณาเลือกปี พ.ศ. {days_year}",
                          "The days chosen are in {days_year} (BE) but the register chosen is that of {year}; "
                          "each year's register has its own numbers: choose the year {days_year}."),
    # What people did (operator_actions.action) and what became of a letter's
    # outbox items: a clerk reads these, never the codes stored for the tools.
    "act_letter_assigned": ("มอบหมายให้หน่วย", "assigned to a department"),
    "act_letter_note_added": ("เพิ่มบันทึก", "note added"),
    "act_register_cancelled": ("ยกเลิกรายการ", "entry cancelled"),
    "act_quarantine_released": ("รับเข้าทะเบียน", "released (registered)"),
    "act_quarantine_rejected": ("ปฏิเสธ", "rejected"),
    "act_emergency_imported": ("ลงทะเบียนจากทะเบียนฉุกเฉิน", "entered from the emergency register"),
    "act_registered_before_restore": ("ลงทะเบียนไว้ก่อนกู้คืนฐานข้อมูลจากสำเนา จึงได้เลขรับใหม่",
                                      "registered before the database was restored from a backup: numbered again"),
    "act_reprocessed": ("ตรวจซ้ำ", "processed again"),
    "act_outbox_retried": ("ลองส่งใหม่", "sent again"),
    "audit_when": ("เมื่อ", "When"),
    "audit_older": ("รายการก่อนหน้านี้", "Older entries"),
    "audit_not_searched": ("บันทึกที่เก่ากว่านี้ไม่ได้แสดงในหน้านี้ (บันทึกยาวเกินกว่าที่หน้านี้อ่านย้อนหลังได้) "
                           "หากต้องการให้แจ้งผู้ดูแลระบบ",
                           "Older entries are not shown here (the log is longer than this page reads back); "
                           "ask the system administrator for them."),
    "audit_action": ("การเปิดดู", "What was opened"),
    "audit_view": ("เปิดดูเนื้อหา", "opened the letter"),
    "audit_view_file": ("เปิดไฟล์", "opened a file"),
    "audit_export": ("ส่งออก", "exported"),
    "audit_release_held": ("เปิดเพื่อรับหนังสือที่กักไว้เข้าทะเบียน", "opened to release a held letter"),
    "audit_seal_for_registrar": ("ปิดผนึกให้นายทะเบียนลับ", "sealed for the registrar"),
    "kind_folder": ("ส่งเข้าโฟลเดอร์ของหน่วยงาน", "filed to the unit's folder"),
    "kind_notice": ("หนังสือแจ้งผู้ส่ง", "notice to the sender"),
    "kind_registrar": ("ส่งถึงนายทะเบียนลับ", "sent to the secret registrar"),
    "kind_alert": ("แจ้งเตือนผู้ดูแลระบบ", "alert to the administrator"),
    "out_pending": ("รอส่ง", "waiting"),
    "out_done": ("เรียบร้อย", "done"),
    "out_dead": ("ส่งไม่สำเร็จ", "failed"),
    "out_held": ("ระงับไว้", "held"),
    "out_withdrawn": ("ยกเลิกแล้ว", "withdrawn"),
    "out_suppressed": ("ไม่ส่ง", "not sent"),
}

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def code_word(prefix: str, code: str | None, lang: str = "th") -> str:
    """A stored code (an action, an outbox kind) in words; a code this table does not
    know yet is shown as it is rather than as its key."""
    key = f"{prefix}{code}"
    return word(key, lang) if key in WORDS else str(code or "")


def more(count: int, lang: str = "th") -> str:
    """The line under a list cut short: "และอีก 400 รายการ", "and 400 more"."""
    return f"and {count:,} more" if lang == "en" else f"และอีก {count:,} รายการ"


def word(key: str, lang: str = "th") -> str:
    pair = WORDS.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" and pair[1] else pair[0]


def be_date(value: dt.date | dt.datetime | None, lang: str = "th", with_time: bool = False) -> str:
    """5 มี.ค. 2569 (10.30 น.): Buddhist era in both languages; times in Bangkok."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        local = to_bangkok(value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc))
        day = local.date()
    else:
        local, day = None, value
    month = THAI_MONTHS_SHORT[day.month - 1] if lang != "en" else MONTHS_EN[day.month - 1]
    text = f"{day.day} {month} {day.year + 543}"
    if with_time and local is not None:
        text += f" {local:%H.%M} น." if lang != "en" else f" {local:%H:%M}"
    return text
